"""The native loop for the signal sums (``signals._native``) equals the tensor operations it replaces.

Both compute the same float64 sums of the same widened values; only the order of the additions differs, so
each sum may differ by Higham's γ_n times the sum of its terms' magnitudes (``tolerances.gamma``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tolerances as tol
import torch

from dynsearch.signals import PearsonStats, first_shift, shifted_gram
from dynsearch.signals._native import native_available, native_shifted_gram

pytestmark = pytest.mark.numerics

ROOT = Path(__file__).resolve().parents[1]


def _tensor_ops(x: torch.Tensor, y: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """The reference: ``shifted_gram`` on float64 copies of the rows, which the native loop never takes."""
    return shifted_gram(x.double(), y.double(), shift)


def _magnitudes(x: torch.Tensor, y: torch.Tensor, shift: torch.Tensor) -> np.ndarray:
    """Per row and entry, the sum of the absolute values of the terms that entry adds up."""
    a = x.double().numpy() - shift[:, 0].double().numpy()
    b = y.double().numpy() - shift[:, 1].double().numpy()
    sa, sb, saa, sbb, sab = (np.abs(t).sum(1) for t in (a, b, a * a, b * b, a * b))
    count = np.full_like(sa, 0.0)
    return np.stack([saa, sab, sa, sab, sbb, sb, sa, sb, count], 1).reshape(-1, 3, 3)


def test_the_native_loop_is_built_where_a_c_compiler_is() -> None:
    if os.environ.get("DYNSEARCH_NATIVE") == "0":
        pytest.skip("DYNSEARCH_NATIVE=0: this run checks the tensor operations")
    has_compiler = any(shutil.which(c) for c in ("cc", "gcc", "clang"))
    if not has_compiler and os.environ.get("CI", "").lower() != "true":
        pytest.skip("no C compiler here: the tensor operations serve")
    assert native_available()


@pytest.mark.parametrize("k, n", [(1, 1), (1, 3), (1, 4), (2, 7), (3, 1001), (16, 8192), (1, 32768)])
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_native_sums_equal_the_tensor_operations(k: int, n: int, offset: float) -> None:
    if not native_available():
        pytest.skip("no native loop in this process")
    generator = torch.Generator().manual_seed(k * n)
    x = torch.randn(k, n, generator=generator) * 3 + offset
    y = torch.tanh(x - offset) + 0.1 * torch.randn(k, n, generator=generator) - offset
    shift = first_shift(x[:, : max(1, n // 3)], y[:, : max(1, n // 3)])  # a first batch's means, not the whole's
    native = native_shifted_gram(x, y, shift)
    assert native is not None
    want = _tensor_ops(x, y, shift)
    bound = 2 * tol.gamma(n) * _magnitudes(x, y, shift)
    assert np.all(np.abs(native.numpy() - want.numpy()) <= bound)
    assert torch.equal(native[:, 2, 2], torch.full((k,), float(n), dtype=torch.float64))
    assert torch.equal(native, native.transpose(1, 2))  # the co-moment is one sum, used twice


def test_what_the_native_loop_does_not_take_goes_to_the_tensor_operations() -> None:
    x = torch.randn(2, 10, dtype=torch.float64)
    assert native_shifted_gram(x, x, torch.zeros(2, 3, 1)) is None  # float64 rows
    assert native_shifted_gram(x.float(), x.float(), torch.zeros(2, 3, 1, dtype=torch.float64)) is None
    strided = torch.randn(10, 2).t()  # non-contiguous rows are copied, not misread
    if native_available():
        shift = torch.zeros(2, 3, 1)
        got = native_shifted_gram(strided, strided, shift)
        assert got is not None
        bound = 2 * tol.gamma(10) * _magnitudes(strided, strided, shift)
        assert np.all(np.abs(got.numpy() - _tensor_ops(strided, strided, shift).numpy()) <= bound)


def test_pearson_r_is_the_same_either_way() -> None:
    x = torch.randn(4096, generator=torch.Generator().manual_seed(1))
    y = torch.relu(x)
    stats = PearsonStats()
    stats.update(x[:2048], y[:2048])
    stats.update(x[2048:], y[2048:])
    reference = PearsonStats()
    reference.update(x.double(), y.double())
    assert abs(stats.compute().r - reference.compute().r) <= tol.pearson(4096)


def _python(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


_TRAIN = (
    "from dynsearch.signals._native import native_available; from dynsearch.data import load_dataset; "
    "from dynsearch.train import TrainConfig, train; "
    "r = train(load_dataset('iris'), {'name': 'threshold', 'params': {'signal': 'io'}}, TrainConfig(epochs=2)); "
    "print(native_available(), r.status)"
)


def test_switched_off_or_without_a_compiler_training_uses_the_tensor_operations(tmp_path: Path) -> None:
    off = _python({"DYNSEARCH_NATIVE": "0"}, _TRAIN)
    assert off.returncode == 0, off.stderr[-2000:]
    assert off.stdout.split()[-2:] == ["False", "ok"]
    broken = _python({"CC": "false", "XDG_CACHE_HOME": str(tmp_path)}, _TRAIN)  # `false` exits 1: no library
    assert broken.returncode == 0, broken.stderr[-2000:]
    assert broken.stdout.split()[-2:] == ["False", "ok"]
    assert not list(tmp_path.glob("dynsearch/*.so"))
