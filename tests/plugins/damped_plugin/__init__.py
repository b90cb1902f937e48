"""A plugin package for the tests: a strategy of its own, declared, registered and searched like the built-ins."""
