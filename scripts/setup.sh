#!/usr/bin/env bash
# Set up opsnb on this machine: .venv with the project installed, a Jupyter kernel for that
# interpreter, and (where the OS package manager allows) Chromium for screenshots and browser
# tests. Idempotent and quick when nothing changed (a stamp file remembers pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.opsnb-installed

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "==> installing opsnb and its dependencies into $VENV (first time takes about a minute)"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  log=$(mktemp)
  if ! "$VENV/bin/python" -m pip install -q -e ".[dev]" >"$log" 2>&1; then
    grep -v -E "^WARNING: Location" "$log" | tail -30; rm -f "$log"
    echo "pip install failed (see above)"; exit 1
  fi
  # statsforecast/fugue cap pandas<3 in their metadata but run on pandas 3 (tested): no-deps
  # install, their real dependencies come with opsnb (pyproject.toml)
  if ! "$VENV/bin/python" -m pip install -q --no-deps "statsforecast==2.1.1" "fugue==0.9.7" >"$log" 2>&1; then
    grep -v -E "^WARNING: Location" "$log" | tail -30; rm -f "$log"
    echo "pip install of statsforecast failed (see above)"; exit 1
  fi
  rm -f "$log"
  touch "$STAMP"
fi
# A kernel pinned to this interpreter, so papermill never runs a different Python.
if [ ! -f "$VENV/share/jupyter/kernels/opsnb/kernel.json" ]; then
  "$VENV/bin/python" -m ipykernel install --prefix "$VENV" --name opsnb --display-name "Python (opsnb)" >/dev/null
fi

# Optional system packages: Chromium (report screenshots, browser tests). Fonts need nothing:
# the CJK font comes from PyPI (noto-cjk-sans-otc).
if [ "${OPSNB_SKIP_SYSTEM:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    echo "==> installing Chromium with apt-get (browser tests and screenshots)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "    apt-get could not install chromium; browser tests will be skipped"
  else
    echo "==> Chromium not installed and apt-get not usable here (not root or not Debian):"
    echo "    browser tests will be skipped. Install a Chromium yourself to run them."
  fi
fi
