"""A plugin that cannot be imported: its dependency is missing."""

import dynsearch_no_such_dependency  # noqa: F401
