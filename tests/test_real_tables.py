"""The real-tables suite: every member loads offline from pydataset's archive and satisfies the stated rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState
from study_helpers import study_toml

from dynsearch.config import ConfigError, load_study_file
from dynsearch.data import (
    TABLE_RULE,
    describe_dataset,
    expand_dataset_entry,
    load_dataset,
    real_table_members,
    select_members,
)
from dynsearch.data._real_tables import _prepared
from dynsearch.data._table_rule import content_hash

# Loads every member with sockets that refuse to open: a load that reached for the network would fail.
OFFLINE_LOAD = textwrap.dedent("""\
    import json, socket, sys

    class NoNetwork(socket.socket):
        def __init__(self, *args, **kwargs):
            raise OSError("network access in an offline test")

    socket.socket = NoNetwork
    socket.create_connection = lambda *a, **k: NoNetwork()
    from dynsearch.data import expand_dataset_entry, load_dataset

    out = []
    for name, options in expand_dataset_entry({"suite": "real-tables"}):
        s = load_dataset(name, **options)
        out.append([name, s.task, len(s.y_train) + len(s.y_val) + len(s.y_test), s.n_features, s.n_outputs, s.source])
    json.dump(out, sys.stdout)
""")


@pytest.fixture(scope="module")
def offline_loads() -> list[list]:
    proc = subprocess.run([sys.executable, "-c", OFFLINE_LOAD], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HOME": "/nonexistent"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_suite_loads_over_100_datasets_offline_each_with_its_task_and_size(offline_loads: list[list]) -> None:
    members = {m.name: m for m in real_table_members()}
    assert len(offline_loads) == len(members) >= 100
    tasks = Counter(task for _, task, *_ in offline_loads)
    assert tasks["classification"] >= 50 and tasks["regression"] >= 50
    for name, task, rows, n_features, n_outputs, source in offline_loads:
        m = members[name]
        assert (task, rows, n_features) == (m.task, m.rows, m.features), name
        assert n_outputs == (m.classes if task == "classification" else 1)
        assert source == f"pydataset (R package {m.package}, table {m.item})"


def test_pydataset_is_never_imported_so_nothing_is_written_to_home() -> None:
    code = "import sys; from dynsearch.data import load_dataset; load_dataset('rdata_mass_boston'); " \
           "print('pydataset' in sys.modules)"  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": "/nonexistent"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_every_member_satisfies_the_rule() -> None:
    rule = TABLE_RULE
    hashes = set()
    for m in real_table_members():
        table = _prepared(m.name)
        rows = len(table.y)
        assert rule.min_rows <= rows <= rule.max_rows and table.x.shape == (rows, m.features), m.name
        assert np.isfinite(table.x).all(), m.name  # missing values handled: no NaN reaches the features
        if m.task == "classification":
            counts = np.bincount(table.y)
            assert 2 <= len(counts) <= rule.max_classes and counts.min() >= rule.min_class_rows, m.name
        else:
            assert np.isfinite(table.y).all() and len(np.unique(table.y)) >= rule.min_distinct, m.name
        for j, feature in enumerate(table.feature_names):
            column = table.x[:, j]
            assert feature.partition("=")[0].strip().lower() not in rule.id_names, (m.name, feature)
            assert len(np.unique(column)) > 1, (m.name, feature)  # no constant column
            integer_ids = len(np.unique(column)) == rows and np.all(column == np.round(column))
            assert not integer_ids, (m.name, feature)  # no unique-per-row identifier
        hashes.add(content_hash(table))
        assert content_hash(table) == m.sha256
    assert len(hashes) == len(real_table_members())  # no two members hold the same table


@pytest.mark.slow
def test_the_manifest_is_what_the_rule_computes_from_the_package() -> None:
    assert tuple(select_members()) == real_table_members()


def test_a_seeded_sample_is_nested_stable_and_in_the_suites_order() -> None:
    order = [m.name for m in real_table_members()]
    small = [name for name, _ in expand_dataset_entry({"suite": "real-tables", "n": 10, "seed": 3})]
    large = [name for name, _ in expand_dataset_entry({"suite": "real-tables", "n": 40, "seed": 3})]
    assert len(small) == 10 and set(small) <= set(large)
    assert small == sorted(small, key=order.index)
    assert small == [name for name, _ in expand_dataset_entry({"suite": "real-tables", "n": 10, "seed": 3})]
    assert small != [name for name, _ in expand_dataset_entry({"suite": "real-tables", "n": 10, "seed": 4})]
    assert [name for name, _ in expand_dataset_entry({"suite": "real-tables"})] == order


def test_a_member_is_described_with_its_size_task_and_source() -> None:
    text = describe_dataset(load_dataset("rdata_mass_boston"))
    assert text == ("rdata_mass_boston: regression, 13 features, 302 train / 102 val / 102 test, "
                    "from pydataset (R package MASS, table Boston)")  # fmt: skip
    assert "from" not in describe_dataset(load_dataset("wine"))


@pytest.mark.parametrize("n", [227, 5000])
def test_n_above_the_suite_size_is_one_line_naming_the_key(n: int, tmp_path: Path) -> None:
    study = tmp_path / "s.toml"
    study.write_text(f'datasets = [{{ suite = "real-tables", n = {n}, seed = 0 }}]\n')
    with pytest.raises(ConfigError) as info:
        load_study_file(study)
    assert info.value.key == "datasets[0].n"
    assert info.value.message == f"the real-tables suite has 226 members, got n = {n}; use n <= 226 or leave n out"
    assert "\n" not in str(info.value)


def _run(study: Path, journal: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DYNSEARCH_STORAGE"}
    return subprocess.run(
        [sys.executable, "-m", "dynsearch", "run", str(study), "--storage", f"journal:{journal}", "--workers", "1",
         "--quiet"],
        cwd=study.parent, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_bad_n_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    study = tmp_path / "bad.toml"
    study.write_text(study_toml("bad", datasets='[{ suite = "real-tables", n = 500 }]', n_trials=1, epochs=1,
                                strategies=("fixed",)))  # fmt: skip
    journal = tmp_path / "bad.journal"
    proc = _run(study, journal)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "datasets[0].n" in lines[0] and "has 226 members, got n = 500" in lines[0]
    assert proc.stdout == "" and not journal.exists()


@pytest.mark.slow
def test_a_tiny_study_over_three_members_trains_and_its_report_describes_them(tmp_path: Path) -> None:
    from dynsearch.cli import main  # the real command, in-process as in test_report


    study = tmp_path / "tables.toml"
    study.write_text(study_toml("tables", datasets='[{ suite = "real-tables", n = 3, seed = 0 }]', n_trials=2,
                                epochs=2, strategies=("fixed", "threshold")))  # fmt: skip
    journal = tmp_path / "tables.journal"
    proc = _run(study, journal)
    assert proc.returncode == 0, proc.stderr
    trials = optuna.load_study(study_name="tables", storage=JournalStorage(JournalFileBackend(str(journal)))).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    expected = sorted(name for name, _ in expand_dataset_entry({"suite": "real-tables", "n": 3, "seed": 0}))
    for trial in trials:
        assert sorted(trial.user_attrs["datasets"]) == expected
        assert all(np.isfinite(v) for v in trial.values)
    out = tmp_path / "report"
    assert main(["report", "tables", "--storage", f"journal:{journal}", "--out", str(out), "--seeds", "1", "--quiet"]) == 0
    listed = (out / "report.md").read_text().split("### Datasets", 1)[1].split("\n#", 1)[0]
    for name in expected:
        m = next(m for m in real_table_members() if m.name == name)
        line = next(line for line in listed.splitlines() if line.startswith(f"- `{name}`: "))
        assert line.startswith(f"- `{name}`: {m.task}, ") and f"{m.features} feature" in line, line
        assert line.endswith(f"test, from pydataset (R package {m.package}, table {m.item})"), line
