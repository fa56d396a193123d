"""``python -m screens [CONFIG]``: the kiosk, as ``mynapoint-kiosk`` runs it."""

from screens import main

raise SystemExit(main())
