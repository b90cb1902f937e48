"""Where a report came from: the code (git commit when there is one), package versions, hardware and
a hash of the study's stored specification. Nothing here changes between two renderings of the same
study with the same code on the same machine, so an unchanged report has identical bytes."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from ... import _version

__all__ = ["provenance", "PACKAGES"]

PACKAGES = ("dynsearch", "torch", "optuna", "numpy", "scipy", "scikit-learn", "matplotlib", "plotly")


def _git_commit() -> str:
    """The last commit that changed the dynsearch source tree, ``+dirty`` with local changes to it; "" outside
    a checkout. Not HEAD: a commit elsewhere (docs, a report) must not change the report's bytes."""
    root = Path(_version.__file__).resolve().parents[1]  # the folder holding dynsearch/, wherever this module sits
    if not (root / ".git").exists():
        return ""
    try:
        head = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%H", "--", "dynsearch"],
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                "dynsearch"], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):  # no git binary, or not a repository after all
        return ""
    return head[:12] + ("+dirty" if dirty else "")


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _hardware(devices: list[str]) -> str:
    cpu = platform.processor() or platform.machine()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{model or cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()}"
    gpus = [d for d in devices if d.startswith("cuda")]
    if gpus:
        try:
            import torch  # inside the try: a torch that cannot query CUDA must not stop the report

            text += "; " + ", ".join(sorted({torch.cuda.get_device_name(0)}))
        except Exception as exc:  # the runs happened on a GPU; its name is a nicety
            text += f"; GPU name unavailable ({type(exc).__name__})"
    return text


def spec_hash(spec: dict[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of the study specification as stored with the study."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def provenance(spec: dict[str, Any], devices: list[str]) -> dict[str, str]:
    """Lines for the report's provenance section."""
    versions = _versions()
    return {
        "code": f"dynsearch/ as of commit {commit}" if (commit := _git_commit()) else "not a git checkout",
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()) + f"; Python {platform.python_version()}",
        "hardware": _hardware(devices),
        "study specification (SHA-256)": spec_hash(spec),
    }
