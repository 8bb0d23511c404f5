"""``python -m czbench``: the command line (see :mod:`czbench.cli`)."""

import sys

from czbench.cli import main

sys.exit(main())
