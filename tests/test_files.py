"""Atomic writes: the usual permissions without touching the umask, and nothing half-written."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from dynsearch._files import atomic_write_text


def test_mode_follows_the_umask_and_the_umask_is_never_changed(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        current = os.umask(0o027)  # reading the umask means setting it; it must still be ours
        assert current == 0o027
    finally:
        os.umask(previous)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    atomic_write_text(path, "old\n")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "new \udcff")  # a lone surrogate cannot be written as UTF-8
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_concurrent_writers_each_leave_a_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.txt"
    texts = [str(i) * 100_000 for i in range(8)]
    threads = [threading.Thread(target=atomic_write_text, args=(path, t)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_text() in texts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.txt"]


def test_newlines_are_written_as_given(tmp_path: Path) -> None:
    path = atomic_write_text(tmp_path / "t.csv", "a\r\nb\n")
    assert path.read_bytes() == b"a\r\nb\n"
