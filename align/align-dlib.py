#!/usr/bin/env python3
"""OpenFace-compatible face aligner: see align/cli.py or run with --help.

    python align/align-dlib.py INPUT_DIR align innerEyesAndBottomLip OUTPUT_DIR --size 64
"""
import os
import sys

# Make the project (which holds the align package and utils.py) importable
# however this file is started.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from align.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
