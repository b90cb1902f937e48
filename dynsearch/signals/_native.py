"""The signal sums as one native loop on the CPU: one pass over x and y instead of nine tensor operations.

``shifted_gram`` needs, per row of pairs, five float64 sums of the shifted values (Σx, Σy, Σx², Σy², Σxy).
As tensor operations that is two widening copies, a subtraction, a product and a sum, each a pass over
memory and a dispatch; on a small layer they cost a quarter of a training step. This module compiles a
small C loop that reads each float32 value once, widens it, shifts it and adds it into five float64
accumulators: the same arithmetic (every product of two widened float32 values is exact in float64), the
sums in one fixed order (four interleaved lanes, then the lanes and the tail added left to right), and
no fused multiply-adds (``-ffp-contract=off``), so it gives the same bits on every CPU it is built for.

It is built once per machine with the system C compiler (``CC``, else ``cc``, ``gcc`` or ``clang``) into
the user's cache folder (``$XDG_CACHE_HOME/dynsearch`` or ``~/.cache/dynsearch``; a temporary folder if
neither is writable) and loaded with ``ctypes``. Without a compiler, or with ``DYNSEARCH_NATIVE=0``, the
tensor operations run instead; ``native_available()`` says which.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["native_available", "native_shifted_gram", "SOURCE"]

SOURCE = r"""
#include <stdint.h>
#include <string.h>
typedef float v4f __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));

/* out[9r .. 9r+8] = the 3x3 gram of row r's (x - sx, y - sy, 1): x, y are k rows of n float32,
   shift holds (sx, sy, 0) per row as float32 (a [k, 3, 1] tensor). */
void shifted_gram_f32(const float *x, const float *y, int64_t k, int64_t n, const float *shift, double *out) {
    for (int64_t r = 0; r < k; r++) {
        const float *xr = x + r * n, *yr = y + r * n;
        const double sx = (double)shift[3 * r], sy = (double)shift[3 * r + 1];
        const v4d vsx = {sx, sx, sx, sx}, vsy = {sy, sy, sy, sy};
        v4d ax = {0, 0, 0, 0}, ay = ax, axx = ax, ayy = ax, axy = ax;
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
            v4f fx, fy;
            memcpy(&fx, xr + i, sizeof fx);
            memcpy(&fy, yr + i, sizeof fy);
            v4d a = __builtin_convertvector(fx, v4d) - vsx, b = __builtin_convertvector(fy, v4d) - vsy;
            ax += a; ay += b; axx += a * a; ayy += b * b; axy += a * b;
        }
        double t[5] = {0, 0, 0, 0, 0};
        for (int j = 0; j < 4; j++) {
            t[0] += ax[j]; t[1] += ay[j]; t[2] += axx[j]; t[3] += ayy[j]; t[4] += axy[j];
        }
        for (; i < n; i++) {
            double a = (double)xr[i] - sx, b = (double)yr[i] - sy;
            t[0] += a; t[1] += b; t[2] += a * a; t[3] += b * b; t[4] += a * b;
        }
        double *o = out + 9 * r;
        o[0] = t[2]; o[1] = t[4]; o[2] = t[0];
        o[3] = t[4]; o[4] = t[3]; o[5] = t[1];
        o[6] = t[0]; o[7] = t[1]; o[8] = (double)n;
    }
}
"""

_FLAGS = ["-O3", "-ffp-contract=off", "-shared", "-fPIC"]
_NATIVE_ARCH = "-march=native"  # the build runs where it is used; dropped if the compiler refuses it
_state: dict[str, object] = {}  # "function": the loaded C function, or None once a build failed


def _compiler() -> str | None:
    named = os.environ.get("CC")
    candidates = [named] if named else ["cc", "gcc", "clang"]
    return next((c for c in candidates if c and shutil.which(c)), None)


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    for folder in (Path(base) / "dynsearch", Path(tempfile.gettempdir()) / f"dynsearch-{os.getuid()}"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    raise OSError("no writable cache folder for the native signal kernel")


def _machine_key(compiler: str) -> str:
    """What the built library depends on: the source, flags, compiler and this CPU (``-march=native``)."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    cpu = ""
    try:
        cpu = "\n".join(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                        if line.startswith(("model name", "flags")))[:4096]  # fmt: skip
    except OSError:
        cpu = platform.processor()
    text = "\0".join([SOURCE, " ".join(_FLAGS), _NATIVE_ARCH, version, cpu, platform.machine()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _build() -> Path:
    """The library's path, compiled first if this machine has none yet (written atomically: workers may race)."""
    compiler = _compiler()
    if compiler is None:
        raise OSError("no C compiler (cc, gcc or clang) on PATH")
    folder = _cache_folder()
    library = folder / f"shifted_gram-{_machine_key(compiler)}.so"
    if library.exists():
        return library
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        source, built = Path(tmp) / "shifted_gram.c", Path(tmp) / "shifted_gram.so"
        source.write_text(SOURCE)
        for arch in ([_NATIVE_ARCH], []):
            done = subprocess.run([compiler, *_FLAGS, *arch, str(source), "-o", str(built)],
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
            if done.returncode == 0:
                os.replace(built, library)
                return library
        raise OSError(f"{compiler} could not build the signal kernel: {done.stderr.strip()[:300]}")


def _function() -> object:
    if "function" not in _state:
        function = None
        if os.environ.get("DYNSEARCH_NATIVE", "1") != "0":
            try:
                function = ctypes.CDLL(str(_build())).shifted_gram_f32
                function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                     ctypes.c_void_p, ctypes.c_void_p]  # fmt: skip
                function.restype = None
            except (OSError, subprocess.SubprocessError, AttributeError):
                function = None  # the tensor operations serve instead, at their speed
        _state["function"] = function
    return _state["function"]


def native_available() -> bool:
    """Whether ``shifted_gram`` runs the native loop for float32 CPU tensors in this process."""
    return _function() is not None


def native_shifted_gram(x: Tensor, y: Tensor, shift: Tensor) -> Tensor | None:
    """``shifted_gram(x, y, shift)`` by the native loop, or None where it does not apply (not float32 rows on
    the CPU, a float64 shift, inside ``torch.compile``, or no native loop in this process)."""
    if (
        x.device.type != "cpu"
        or x.dtype != torch.float32
        or y.dtype != torch.float32
        or shift.dtype != torch.float32
        or torch.compiler.is_compiling()
    ):
        return None
    function = _function()
    if function is None:
        return None
    k, n = x.shape
    x, y, shift = x.contiguous(), y.contiguous(), shift.contiguous()
    out = torch.empty(k, 3, 3, dtype=torch.float64)
    function(x.data_ptr(), y.data_ptr(), k, n, shift.data_ptr(), out.data_ptr())  # type: ignore[operator]
    return out
