"""``python -m bench``: see bench/harness.py."""

import sys

from bench.harness import main

sys.exit(main())
