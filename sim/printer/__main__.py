"""``python -m sim.printer``: the same as ``mynapoint-vprinter``."""

from sim.printer.cli import main

raise SystemExit(main())
