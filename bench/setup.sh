#!/usr/bin/env bash
# Create bench/.venv with the pinned dependencies of bench/reference.py.
#
# Usage: bash bench/setup.sh        (from anywhere)
#
# Idempotent: on success a marker file inside the venv records a hash of
# requirements.txt and the interpreter version; when the marker matches, the
# script returns at once. A missing or half-built venv (no marker, or a marker
# for other pins) is rebuilt from scratch. All progress goes to stderr so that
# callers can keep stdout clean.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
marker="$venv/.biotag-setup-complete"
python="${PYTHON:-python3}"

log() { echo "[bench/setup] $*" >&2; }

# What the marker must contain for the venv to count as complete.
want="$("$python" -c 'import sys; print("python %d.%d.%d" % sys.version_info[:3])') $(sha256sum "$req" | cut -d' ' -f1)"

up_to_date() { [[ -f "$marker" && "$(cat "$marker")" == "$want" && -x "$venv/bin/python" ]]; }

if up_to_date; then
    log "venv up to date ($venv)"
    exit 0
fi

# Serialize concurrent runs (the lock lives in the git-ignored bench/.cache);
# whoever waited re-checks, since the other run may have finished the job.
mkdir -p "$here/.cache"
exec 9>"$here/.cache/setup.lock"
if ! flock -n 9; then
    log "another setup.sh is running; waiting for it"
    flock 9
fi
if up_to_date; then
    log "venv up to date ($venv)"
    exit 0
fi

start=$SECONDS
if [[ -d "$venv" ]]; then
    log "removing incomplete or outdated venv $venv"
    rm -rf "$venv"
fi

log "creating venv $venv with $("$python" --version 2>&1)"
"$python" -m venv "$venv"

log "installing pinned packages from $req (torch is large; this can take several minutes)"
# pip's own output goes to stderr too; --progress-bar off keeps logs readable.
"$venv/bin/python" -m pip install --no-input --progress-bar off -r "$req" 1>&2

# Fail here, not in the benchmark, if an import is broken.
"$venv/bin/python" - <<'PY' 1>&2
import numpy, onnx, onnxruntime, safetensors, tokenizers, torch, transformers
print("[bench/setup] torch", torch.__version__, "| transformers", transformers.__version__,
      "| onnxruntime", onnxruntime.__version__, "| onnx", onnx.__version__,
      "| numpy", numpy.__version__)
PY

echo "$want" > "$marker"
log "done in $((SECONDS - start)) s; venv size $(du -sh "$venv" | cut -f1)"
