#!/usr/bin/env bash
# One-command setup: creates .venv in the repository and installs everything occpose_d2 needs
# (torch/torchvision, detectron2 0.6 without C++ ops, the field's libraries, the project in
# editable mode). Idempotent: on a ready machine it checks a stamp and exits in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${OCCPOSE_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.occpose_setup_stamp"
INPUTS=(requirements/constraints.txt requirements/requirements.txt setup.py
        scripts/install_detectron2.py scripts/setup_env.sh)

digest="$(cat "${INPUTS[@]}" | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$digest" ]] \
   && "$VENV/bin/python" -c "import occpose_d2, detectron2" 2>/dev/null; then
  echo "setup: $VENV is ready (nothing to do)."
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup: creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip)
echo "setup: installing requirements (torch is large: about 2 minutes on a fresh machine)"
"${PIP[@]}" install -c requirements/constraints.txt -r requirements/requirements.txt
echo "setup: installing detectron2"
"$VENV/bin/python" scripts/install_detectron2.py --constraints requirements/constraints.txt
echo "setup: installing occpose_d2 (editable) with its export extra (onnx, onnxruntime)"
"${PIP[@]}" install -c requirements/constraints.txt --no-build-isolation -e ".[export]"
"$VENV/bin/python" -c "import occpose_d2, detectron2; print('setup: occpose_d2 ready, detectron2', detectron2.__version__)"
echo "$digest" > "$STAMP"
