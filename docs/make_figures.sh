#!/bin/sh
# Remake the figures of the README and docs/MODEL_CARD.md with the project's own commands: the demo (python complete.py)
# with the shipped model, and the training run's last sample grid (train_dcgan.py's output).
#   sh docs/make_figures.sh [SAMPLE_GRID]   (the shipped model: runs/faces/samples/train_02_0034.png, step 1000)
set -e
cd "$(dirname "$0")/.."
out=$(mktemp -d)
python complete.py --outDir "$out" --seed 0
cp "$out/demo.png" docs/demo.png
cp "$out/completion.gif" docs/demo.gif
python - "$out/pasted/astronaut_center.png" docs/demo_pasted.jpg <<'PY'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").save(sys.argv[2], quality=90)
PY
if [ -n "$1" ]; then cp "$1" docs/samples.png; fi
ls -l docs
