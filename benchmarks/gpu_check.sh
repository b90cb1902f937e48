#!/usr/bin/env bash
# GPU check of the search: on a machine with NVIDIA GPUs, run a short study with
# `dynsearch run --workers auto --per-device 2` and show which device every worker used and the
# trials per minute.
#
# The target machine has torch (with CUDA) but not optuna, and no network. Carry the missing
# wheels in a folder of the checkout (shared/wheels/ or benchmarks/wheels/, or set WHEELS=DIR).
# Prepare them on a machine with network, for the target's Python version and platform, e.g.:
#
#   pip download --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
#       --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d benchmarks/wheels \
#       optuna sqlalchemy alembic colorlog tqdm PyYAML Mako MarkupSafe greenlet typing_extensions \
#       packaging numpy scikit-learn scipy joblib threadpoolctl
#
# (optuna's own dependencies, and scikit-learn with its dependencies for the bundled datasets;
# torch is NOT downloaded: the machine's CUDA build is used.) The script then installs, without
# network, into a virtual environment that sees the system's torch:
#
#   python -m venv --system-site-packages /tmp/dynsearch-gpu-check-venv   (VENV=DIR to change)
#   pip install --no-index --find-links WHEELS optuna scikit-learn ...   (only what is missing)
#   pip install --no-deps --no-build-isolation -e .
#
# Usage:   bash benchmarks/gpu_check.sh            (from anywhere; it finds the checkout)
# Options (environment): WHEELS=DIR, PYTHON=python3, VENV=DIR, N_TRIALS=12, TIMEOUT_S=420,
#   GPU_CHECK_ALLOW_CPU=1 runs the same steps without a GPU (to test the script itself).
set -euo pipefail

die() { echo "gpu_check: error: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
N_TRIALS="${N_TRIALS:-12}"
TIMEOUT_S="${TIMEOUT_S:-420}"
ALLOW_CPU="${GPU_CHECK_ALLOW_CPU:-0}"
VENV="${VENV:-${TMPDIR:-/tmp}/dynsearch-gpu-check-venv}"

step "GPUs"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L || die "nvidia-smi -L failed: is the NVIDIA driver loaded?"
elif [[ "$ALLOW_CPU" == 1 ]]; then
    echo "nvidia-smi not found; GPU_CHECK_ALLOW_CPU=1: going on without a GPU"
else
    die "nvidia-smi not found: this check needs a machine with NVIDIA GPUs (GPU_CHECK_ALLOW_CPU=1 to test the script)"
fi

step "Python environment"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set PYTHON=...)"
"$PYTHON" -c "import torch" 2>/dev/null || die "$PYTHON cannot import torch; this check uses the machine's own torch"
if "$PYTHON" -c "import optuna, sklearn, dynsearch" 2>/dev/null; then
    PY="$PYTHON"
    echo "optuna, scikit-learn and dynsearch already importable with $PYTHON: nothing to install"
else
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PYTHON" -m venv --system-site-packages "$VENV" || die "cannot create the virtual environment $VENV"
    fi
    PY="$VENV/bin/python"
    missing=()
    for spec in optuna:optuna sklearn:scikit-learn tqdm:tqdm; do
        "$PY" -c "import ${spec%%:*}" 2>/dev/null || missing+=("${spec##*:}")
    done
    if ((${#missing[@]})); then
        if [[ -z "${WHEELS:-}" ]]; then
            for candidate in "$ROOT/shared/wheels" "$ROOT/benchmarks/wheels"; do
                if [[ -d "$candidate" ]]; then WHEELS="$candidate"; break; fi
            done
        fi
        [[ -n "${WHEELS:-}" && -d "$WHEELS" ]] || die "missing ${missing[*]} and no wheel folder (shared/wheels/, benchmarks/wheels/ or WHEELS=DIR); see this script's header"
        pyver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        echo "installing ${missing[*]} from $WHEELS (python $pyver, no network)"
        "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" "${missing[@]}" \
            || die "pip could not install ${missing[*]} from $WHEELS; download wheels for python $pyver (see the header)"
    fi
    if ! "$PY" -c "import dynsearch" 2>/dev/null; then
        "$PY" -m pip install --quiet --no-index --no-deps --no-build-isolation -e "$ROOT" \
            || die "pip install --no-deps -e . failed (setuptools missing in $PY? add a setuptools wheel)"
    fi
fi
"$PY" - <<'EOF'
import optuna, torch, dynsearch
print(f"python ok: torch {torch.__version__} (CUDA {torch.version.cuda}), optuna {optuna.__version__}, dynsearch {dynsearch.__version__}")
print(f"torch sees {torch.cuda.device_count()} GPU(s): " + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
EOF
if [[ "$ALLOW_CPU" != 1 ]]; then
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
        || die "torch.cuda.is_available() is False: a CPU-only torch build, or CUDA_VISIBLE_DEVICES hides the GPUs"
fi

step "Study: $N_TRIALS trials, --workers auto --per-device 2"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dynsearch-gpu-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/gpu_check.toml" <<'EOF'
name = "gpu_check"
description = "A short quickstart-like study for the GPU check."
datasets = ["digits", { name = "moons", n_samples = 600, noise = 0.25 }]
n_trials = 6
[model]
kind = "mlp"
hidden = [64, 64]
[training]
epochs = 8
batch_size = 64
patience = 0
lr = 0.003
[search]
strategies = ["fixed", "threshold", "linear", "learned"]
scopes = ["layer", "global"]
bases = ["relu"]
[sampler]
name = "tpe"
seed = 0
[pruner]
name = "none"
EOF
JOURNAL="$WORK/gpu_check.journal"
started=$(date +%s.%N)
set +e
timeout "$TIMEOUT_S" "$PY" -m dynsearch run "$WORK/gpu_check.toml" --storage "journal:$JOURNAL" \
    --workers auto --per-device 2 --n-trials "$N_TRIALS" --quiet
rc=$?
set -e
ended=$(date +%s.%N)
((rc != 124)) || die "dynsearch run did not finish within ${TIMEOUT_S} s"
((rc == 0)) || die "dynsearch run exited with $rc"

step "Workers and throughput"
"$PY" - "$JOURNAL" "$started" "$ended" "$N_TRIALS" "$ALLOW_CPU" <<'EOF'
import sys
from collections import defaultdict

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

journal, started, ended, n_trials, allow_cpu = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
study = optuna.load_study(study_name="gpu_check", storage=JournalStorage(JournalFileBackend(journal)))
trials = study.get_trials(deepcopy=False)
finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
workers = defaultdict(list)
for t in trials:
    workers[t.system_attrs.get("dynsearch_worker", "?")].append(t)
print(f"{'worker (host:pid)':32s} {'device':8s} {'trials':>6s} {'complete':>8s} {'failed':>6s} {'mean s/trial':>12s}")
for owner, ts in sorted(workers.items()):
    devices = sorted({str(t.user_attrs.get("device", "?")) for t in ts})
    done = [t for t in ts if t.state == TrialState.COMPLETE]
    mean = sum(t.duration.total_seconds() for t in done) / len(done) if done else float("nan")
    failed = sum(t.state == TrialState.FAIL for t in ts)
    print(f"{owner:32s} {','.join(devices):8s} {len(ts):6d} {len(done):8d} {failed:6d} {mean:12.2f}")
wall = ended - started
completes = sorted(t.datetime_complete.timestamp() for t in finished)
steady = (len(completes) - 1) / (completes[-1] - completes[0]) * 60 if len(completes) > 1 and completes[-1] > completes[0] else float("nan")
print(f"{len(finished)} of {n_trials} trials finished in {wall:.1f} s: {len(finished) / wall * 60:.1f} trials/min end to end, "
      f"{steady:.1f} trials/min steady state; {len(workers)} worker(s)")
best = study.best_trial if any(t.state == TrialState.COMPLETE for t in trials) else None
if best is not None:
    print(f"best: {best.value:.4f} (trial {best.number}, {best.params.get('arm')})")
problems = []
if len(finished) != n_trials:
    problems.append(f"{len(finished)} finished, expected {n_trials}")
devices = {str(t.user_attrs.get("device", "?")) for t in trials}
if not allow_cpu and not all(d.startswith("cuda") for d in devices):
    problems.append(f"trials ran on {sorted(devices)}, expected cuda only")
if problems:
    sys.exit("gpu_check: FAILED: " + "; ".join(problems))
print("gpu_check: OK")
EOF
step "Packed trials on one device against one trial at a time"
# benchmarks/pack_sweep.py: train() one trial at a time, then packs of K trials (digits, MLP 64-64); target >= 50x
# at the best K on a GPU. The CPU path only checks that the step runs (small packs, one epoch).
if [[ "$ALLOW_CPU" == "1" ]] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    SWEEP_ARGS=(--device cpu --sizes 1,4 --epochs 1 --alone 2 --compile-k 0)
else
    SWEEP_ARGS=(--device cuda --sizes 1,64,256,1024 --epochs 10 --alone 4 --compile-k 0)
fi
timeout "$TIMEOUT_S" "$PY" "$ROOT/benchmarks/pack_sweep.py" "${SWEEP_ARGS[@]}" --png "$WORK/pack_sweep_gpu.png" \
    --json "$WORK/pack_sweep_gpu.json" || die "benchmarks/pack_sweep.py failed"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=index,name,memory.used,memory.total --format=csv || true
fi
