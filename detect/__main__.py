"""``python -m detect`` is the same as the ``posturewatch`` command."""

import sys

from detect.cli import main

sys.exit(main())
