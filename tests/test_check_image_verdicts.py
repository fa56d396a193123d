"""check-image's verdicts: a report that shows a lost enrollment, a key that left the
kiosk or a fault handled wrong makes the check fail (it used to exit 0 on any report).

The reports here are as ``image/check_image.py`` writes them; booting the image takes
minutes under qemu and is not part of ./test (docs/appliance.md).
"""

from __future__ import annotations

import copy

from image.check_image import failures

GOOD = {
    "enrollment_delivered": True,
    "heartbeat_seen": True,
    "keys": [{"screen": "welcome", "keys": "alt-f4", "ok": True}],
    "power_cuts": {
        "lost": [],
        "delivered_more_than_once": {},
        "integrity_check": "ok",
    },
    "faults": {
        "clock": {"refused": True, "enqueued": []},
        "data_missing": {
            "kiosk_status": "maintenance",
            "data_mounted": "none",
            "partition_untouched": True,
        },
        "data_back": {"kiosk_status": "welcome", "integrity": "ok"},
    },
}


def spoiled(path: tuple, value: object) -> dict:
    report = copy.deepcopy(GOOD)
    *parents, last = path
    node = report
    for key in parents:
        node = node[key]
    node[last] = value
    return report


def test_a_report_where_everything_held_passes() -> None:
    assert failures(GOOD) == []
    assert failures({}) == []  # checks not asked for are not failures


def test_each_broken_promise_fails_the_check() -> None:
    broken = [
        (("enrollment_delivered",), False),
        (("heartbeat_seen",), False),
        (("keys", 0, "ok"), False),
        (("power_cuts", "lost"), ["HBX-BEA-9DY"]),
        (("power_cuts", "delivered_more_than_once"), {"HBX-BEA-9DY": 2}),
        (("power_cuts", "integrity_check"), "*** in database main ***"),
        (("faults", "clock", "refused"), False),
        (("faults", "clock", "enqueued"), ["HBX-BEA-9DY"]),
        (("faults", "data_missing", "kiosk_status"), "welcome"),
        (("faults", "data_missing", "data_mounted"), "/dev/vda3"),
        (("faults", "data_missing", "partition_untouched"), False),
        (("faults", "data_back", "integrity"), "malformed"),
        (("faults", "data_back", "kiosk_status"), "maintenance"),
    ]
    for path, value in broken:
        assert len(failures(spoiled(path, value))) == 1, path
