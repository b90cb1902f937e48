"""Atomic text writes for the report (one implementation for the whole package: ``dynsearch._files``)."""

from __future__ import annotations

from .._files import atomic_write_text

__all__ = ["atomic_write_text"]
