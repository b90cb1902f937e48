"""The report's sections on signals and controls, placed among the sections ``build_blocks`` gives:
candidates against their controls right after the conclusion, where the signals lay after the
per-dataset tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..inference import Comparison
from ..retrain import RetrainRun
from ..trials import StudyData
from ._blocks import Block, Heading
from ._control_pairs import control_section
from ._signal_spread import signal_section

__all__ = ["add_sections", "insert_before"]


def insert_before(blocks: list[Block], anchor: str, new: list[Block]) -> list[Block]:
    """``blocks`` with ``new`` placed before the level-2 heading ``anchor`` (at the end when there is none)."""
    for i, b in enumerate(blocks):
        if isinstance(b, Heading) and b.level == 2 and b.anchor == anchor:
            return blocks[:i] + new + blocks[i:]
    return blocks + new


def add_sections(
    blocks: list[Block], data: StudyData, comparison: Comparison, runs: Mapping[str, RetrainRun],
    seeds: Sequence[int], out: Path, derived: Mapping[str, RetrainRun] | None = None,
) -> list[Block]:
    """``blocks`` with the controls and signals sections added (writes ``figures/signals.png``);
    ``derived``: the runs of the final_fixed controls derived from the candidates' runs."""
    blocks = insert_before(blocks, "ranks", control_section(data, comparison, derived))
    return insert_before(blocks, "budgets", signal_section(data, runs, seeds, out))
