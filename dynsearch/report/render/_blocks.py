"""The report's building blocks (headings, paragraphs, tables, bullets, figures), written once by
``report.sections`` and rendered twice by ``report.render``: as ``index.html`` and as ``report.md``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..figures import Figure

__all__ = ["Heading", "Para", "Table", "Bullets", "FigureBlock", "Block"]


@dataclass
class Heading:
    level: int
    text: str
    anchor: str = ""


@dataclass
class Para:
    text: str  # plain text; `code` spans and **bold** are rendered in both formats
    css: str = ""


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    css: str = ""
    key: str = ""  # data-table attribute in HTML
    row_keys: list[str] = field(default_factory=list)  # data-arm attribute per row
    highlight: set[int] = field(default_factory=set)  # rows shown in bold


@dataclass
class Bullets:
    items: list[str]


@dataclass
class FigureBlock:
    figure: Figure


Block = Heading | Para | Table | Bullets | FigureBlock


