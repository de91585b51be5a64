#!/usr/bin/env bash
# radbench as a user installs it: build the wheel, install it into a fresh virtual environment
# outside the checkout, and use it from an empty folder (no configs/, no source tree):
# --version, grid show, task init on a class-folder set, a two-cell run, status and report.
#   bash scripts/check_wheel.sh [WORKDIR]      (CI runs it through tests/test_install.py)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
python="${PYTHON:-python3}"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$repo"
wheel="$(ls "$work"/dist/radbench-*.whl)"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$wheel[cpu]"
cd "$work"   # nothing of the checkout here
rb="$work/venv/bin/radbench"
"$rb" --version
"$rb" grid show full > /dev/null
"$rb" grid show quick --json > grid.json
# a class-folder set: bright squares mark the positive class
"$work/venv/bin/python" - <<'PY'
from pathlib import Path
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
for label in ("normal", "lesion"):
    for i in range(24):
        pixels = rng.integers(0, 80, (40, 40), dtype=np.uint8)
        if label == "lesion":
            pixels[10:30, 10:30] = 220
        patient = i + (100 if label == "lesion" else 0)
        path = Path("scans") / label / f"p{patient:03d}_{label}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
PY
"$rb" task init scans --layout folders --data scans --positive lesion \
    --group-pattern '^(p\d+)_' --out scans.yaml
cat > two.yaml <<'YAML'
name: two
sources: [scratch]
backbones: [MobileNetV3Small]
settings:
  - {freeze: freezeall, lr: [1.0e-2, 1.0e-3]}
folds: 1
overrides: {image_size: 32, epochs: 1, batch_size: 16, batchnorm_calibration: true}
YAML
"$rb" run scans.yaml --grid two.yaml --out run --sources scratch
"$rb" status run
"$rb" report run > report.txt
head -5 report.txt
test -f run/report.html
# the [jax] extra installs and its backend reads the shipped grids too
"$work/venv/bin/python" -m pip install --quiet "$wheel[jax]"
KERAS_BACKEND=jax "$rb" grid show smoke > /dev/null
KERAS_BACKEND=jax "$work/venv/bin/python" -c "import keras; assert keras.backend.backend() == 'jax'"
# [tensorflow] (the GPU build) and [torch] (with CUDA wheels, several GB) are resolved by pip,
# not downloaded: their requirements must be satisfiable beside radbench's
for extra in tensorflow torch; do
  "$work/venv/bin/python" -m pip install --dry-run --quiet --report "$work/$extra.json" \
      "$wheel[$extra]"
  "$work/venv/bin/python" -c "import json, sys; names = {i['metadata']['name'].lower() for i in \
json.load(open(sys.argv[1]))['install']}; assert sys.argv[2] in names, names" "$work/$extra.json" "$extra"
done
echo "wheel check passed: $wheel"
