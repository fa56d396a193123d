"""What the appliance's systemd units start, from the kiosk's one configuration file.

``mynapoint-sync.service`` runs ``python -m kiosk.appliance sync``: the sync worker
(``offline_queue.sync``) with its database and central-service settings taken from
``/etc/mynapoint-kiosk/kiosk.toml`` (or ``$MYNAPOINT_CONFIG``), checked by
:mod:`kiosk.config` like the kiosk's, so both processes read the same file and a bad
value is named the same way. (The queue package may not import ``kiosk``; this glue
lives on the kiosk's side of that line.)

A configuration that does not pass exits with status 78 (EX_CONFIG) after listing
every problem on stderr (the journal); the unit does not restart on it
(``RestartPreventExitStatus=78``): a file does not fix itself, ``systemctl restart``
after fixing it does.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from kiosk.config import ConfigInvalid, KioskConfig, load_config

EX_CONFIG = 78


def sync_arguments(config: KioskConfig) -> list[str]:
    """mynapoint-sync's command line for this configuration."""
    from offline_queue.sync import command_line

    central = config.central
    return command_line(
        config.queue.db_path,
        central.base_url,
        central.ca_cert,
        central.client_cert,
        central.client_key,
        read_timeout=central.timeout,
    )


def sync_main(extra: Sequence[str] = ()) -> int:
    """Run the sync worker with the configuration file's settings (plus ``extra`` options)."""
    from offline_queue import sync

    try:
        config = load_config()
    except ConfigInvalid as error:
        print("\n".join(error.problems), file=sys.stderr)
        return EX_CONFIG
    return sync.main([*sync_arguments(config), *extra])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sync"]:
        return sync_main(args[1:])
    print("usage: python -m kiosk.appliance sync [mynapoint-sync options]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
