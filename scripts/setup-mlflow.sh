#!/usr/bin/env bash
# Installs the MLflow tracking server that tests/mlflow_real.rs starts on 127.0.0.1.
#
# Idempotent: creates <repo>/target/test-servers/mlflow-venv (python3 -m venv) and installs the
# pinned mlflow version into it; does nothing when that version is already there.
# Needs python3 (>= 3.10) with the venv module and access to PyPI through pip.
# Override the interpreter with PYTHON=/path/to/python3.
set -euo pipefail

MLFLOW_VERSION="3.17.2"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/target/test-servers/mlflow-venv"
python="${PYTHON:-python3}"

installed_version() {
    "$venv/bin/python" -c 'import mlflow, sys; sys.stdout.write(mlflow.__version__)' 2>/dev/null || true
}

if [[ -x "$venv/bin/mlflow" && "$(installed_version)" == "$MLFLOW_VERSION" ]]; then
    echo "setup-mlflow: mlflow $MLFLOW_VERSION already installed in $venv"
    exit 0
fi

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup-mlflow: $python not found; install Python >= 3.10 (with venv) or set PYTHON" >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "setup-mlflow: $python is $("$python" --version 2>&1); mlflow $MLFLOW_VERSION needs >= 3.10" >&2
    exit 1
fi

start=$(date +%s)
mkdir -p "$(dirname "$venv")"
if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup-mlflow: creating $venv"
    "$python" -m venv "$venv"
fi
echo "setup-mlflow: installing mlflow==$MLFLOW_VERSION into $venv (a few minutes)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "mlflow==$MLFLOW_VERSION"

got="$(installed_version)"
if [[ "$got" != "$MLFLOW_VERSION" ]]; then
    echo "setup-mlflow: after pip install, $venv has mlflow '${got:-none}', expected $MLFLOW_VERSION" >&2
    exit 1
fi
echo "setup-mlflow: mlflow $got ready: $venv/bin/mlflow ($(( $(date +%s) - start )) s, $(du -sh "$venv" | cut -f1))"
