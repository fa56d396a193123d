"""Time limits (issue 10, WCAG 2.2.1): a warning with "more time" at least 20 s before the
idle timeout, at least ten extensions, three times longer in an accessibility mode, and
the card leaving still ends the session at once. The clock is the flow's own (``now``).
"""

from __future__ import annotations

import pytest

from kiosk import flow as f
from kiosk.catalog import Catalog
from tests.test_flow import Kiosk


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def idle_until(kiosk: Kiosk, seconds_left: float) -> None:
    kiosk.now = kiosk.session.idle_deadline - seconds_left
    kiosk.send(f.Tick())


def test_the_warning_shows_at_least_20_seconds_before_the_timeout(catalog: Catalog) -> None:
    kiosk = Kiosk(catalog)
    kiosk.to_choose_service()
    idle_until(kiosk, 20.5)
    assert kiosk.session.countdown is None
    idle_until(kiosk, 20)
    assert kiosk.session.countdown == 20 and kiosk.session.state == "choose_service"


def test_more_time_can_be_asked_for_more_than_ten_times(catalog: Catalog) -> None:
    kiosk = Kiosk(catalog)
    kiosk.to_choose_service()
    for _ in range(12):
        idle_until(kiosk, 3)
        assert kiosk.session.countdown == 3
        kiosk.send(f.StillHere())  # the warning's one button
        assert kiosk.session.countdown is None
        assert kiosk.session.idle_deadline == kiosk.now + 90
    assert kiosk.session.extensions == 12
    assert kiosk.session.state == "choose_service" and kiosk.session.card_present


def test_an_accessibility_mode_makes_every_time_limit_three_times_longer(
    catalog: Catalog,
) -> None:
    kiosk = Kiosk(catalog)
    kiosk.send(f.SetAssist(True))
    assert kiosk.session.idle_deadline == kiosk.now + 270
    kiosk.to_choose_service()
    assert kiosk.session.idle_deadline == kiosk.now + 270
    idle_until(kiosk, 61)
    assert kiosk.session.countdown is None
    idle_until(kiosk, 60)  # the warning is three times longer too
    assert kiosk.session.countdown == 60
    kiosk.now = kiosk.session.idle_deadline
    effects = kiosk.send(f.Tick())
    assert f.Wipe("idle_timeout") in effects


def test_the_factor_is_configurable(catalog: Catalog) -> None:
    kiosk = Kiosk(catalog, assist_time_factor=5.0, idle_seconds=60.0)
    kiosk.send(f.SetAssist(True))
    assert kiosk.session.idle_deadline == kiosk.now + 300
    kiosk.send(f.SetAssist(False))
    assert kiosk.session.idle_deadline == kiosk.now + 60


def test_removing_the_card_ends_the_session_at_once_even_with_more_time(
    catalog: Catalog,
) -> None:
    kiosk = Kiosk(catalog)
    kiosk.send(f.SetAssist(True))
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("waon"))
    effects = kiosk.send(f.CardRemoved())
    assert f.Wipe("card_removed") in effects
    assert kiosk.session.state == "welcome" and not kiosk.session.assist


def test_the_next_person_starts_without_the_mode(catalog: Catalog) -> None:
    kiosk = Kiosk(catalog)
    kiosk.send(f.SetAssist(True), f.Start(), f.Cancel())
    assert not kiosk.session.assist
    assert kiosk.session.idle_deadline == kiosk.now + 90


def test_the_config_default_warning_is_20_seconds() -> None:
    from kiosk.config import KioskConfig

    assert f.FlowContext(kiosk_id="K", catalog=None).countdown_seconds >= 20
    assert KioskConfig.__dataclass_fields__["assist_time_factor"].default == 3.0


@pytest.mark.parametrize("reason", ["keypad", "handset"])
def test_the_keypad_or_the_handset_makes_the_limits_longer_without_large_text(
    catalog: Catalog, reason: str
) -> None:
    kiosk = Kiosk(catalog)
    kiosk.to_choose_service()
    kiosk.send(f.LongerTimes(reason))
    assert kiosk.session.idle_deadline == kiosk.now + 270 and not kiosk.session.assist
    idle_until(kiosk, 61)
    assert kiosk.session.countdown is None
    idle_until(kiosk, 60)  # the warning comes three times earlier too
    assert kiosk.session.countdown == 60
    kiosk.send(f.StillHere(), f.SetAssist(True), f.SetAssist(False))
    assert kiosk.session.idle_deadline == kiosk.now + 270  # large text off: still longer


def test_the_next_person_starts_with_the_normal_limits_after_the_keypad(
    catalog: Catalog,
) -> None:
    kiosk = Kiosk(catalog)
    kiosk.send(f.LongerTimes(), f.Start(), f.Cancel())
    assert not kiosk.session.longer_times
    assert kiosk.session.idle_deadline == kiosk.now + 90


def test_the_welcome_screen_at_rest_never_warns_of_a_timeout(catalog: Catalog) -> None:
    """Nobody's session: the welcome screen in the kiosk's own language shows no countdown
    (the arm64 image's first boot showed "あと 20 秒で…" on a welcome nobody had touched);
    in another language it does, before it goes back to the kiosk's own."""
    kiosk = Kiosk(catalog)
    for _ in range(3):  # rest through several idle periods
        idle_until(kiosk, 5)
        assert kiosk.session.countdown is None and kiosk.session.state == "welcome"
        idle_until(kiosk, 0)
        assert kiosk.session.state == "welcome"
    kiosk.send(f.ChooseLanguage("vi"))
    idle_until(kiosk, 5)
    assert kiosk.session.countdown == 5  # someone chose a language: they are warned


def test_large_text_left_on_at_the_welcome_screen_is_reset_for_the_next_person(
    catalog: Catalog,
) -> None:
    kiosk = Kiosk(catalog)
    kiosk.send(f.SetAssist(True))
    idle_until(kiosk, 5)
    assert kiosk.session.countdown == 5  # somebody turned it on: they are warned first
    idle_until(kiosk, 0)
    assert kiosk.session.state == "welcome" and not kiosk.session.assist
