"""Fixtures live in one plugin module per real part; this file only lists them."""

pytest_plugins = [
    "tests.fixtures.card",
    "tests.fixtures.printer",
    "tests.fixtures.central",
    "tests.fixtures.screen",
    "tests.fixtures.network",
    "tests.fixtures.appliance",
]
