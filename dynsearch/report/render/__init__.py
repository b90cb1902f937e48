"""Rendering: the report's text, tables and files, from what the stages below found.

Takes the collected study (``report.trials.StudyData``), the re-training runs (``report.retrain``),
the ``Comparison`` (``report.inference``) and the figures (``report.figures``); gives the report's
blocks (``build_blocks``, with the signal and control sections placed by ``add_sections``), rendered
twice from the same blocks as ``index.html`` and ``report.md`` (``render_html``, ``render_markdown``),
plus ``trials.csv`` (``trials_csv``) and the provenance line of the method (``provenance``).
"""

from ._added import add_sections, insert_before
from ._beyond import beyond_table
from ._blocks import Block, Bullets, FigureBlock, Heading, Para, Table
from ._control_pairs import CONTROL, control_groups, control_section
from ._origins import origin_table
from ._provenance import PACKAGES, provenance
from ._render import render_html, render_markdown
from ._sections import GENERATED_PREFIX, ReportMeta, build_blocks
from ._signal_spread import signal_section, signal_values
from ._trials_table import trials_csv

__all__ = [
    "add_sections",
    "insert_before",
    "beyond_table",
    "origin_table",
    "Block",
    "Bullets",
    "FigureBlock",
    "Heading",
    "Para",
    "Table",
    "CONTROL",
    "control_groups",
    "control_section",
    "PACKAGES",
    "provenance",
    "render_html",
    "render_markdown",
    "GENERATED_PREFIX",
    "ReportMeta",
    "build_blocks",
    "signal_section",
    "signal_values",
    "trials_csv",
]
