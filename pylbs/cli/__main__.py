"""``python -m pylbs.cli ...`` (what campaign tasks run)."""

import sys

from . import main

sys.exit(main())
