"""``python -m sim.card``: the same as ``mynapoint-vcard``."""

import sys

from sim.card.cli import main

sys.exit(main())
