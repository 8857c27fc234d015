"""``python -m pipeline``: the ``pipeline`` command (pipeline/app/cli.py)."""

import sys

from pipeline.app.cli import main

sys.exit(main())
