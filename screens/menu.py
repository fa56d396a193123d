"""The 行政サービス menu: one large button per procedure (from data), open or closed."""

from __future__ import annotations

from kivy.app import App

from screens.base import KioskScreen
from screens.widgets import KButton


class MenuScreen(KioskScreen):
    """Every procedure of ``kiosk/data/procedures.toml``; a closed one says so on its button."""

    def on_show(self) -> None:
        box = self.ids.entries
        box.clear_widgets()
        u = App.get_running_app().u
        for entry in self.view.get("procedures", []):
            button = KButton(
                action=f"procedure:{entry['id']}",
                role="primary" if entry["open"] and entry["form"] != "info" else "secondary",
                text=entry["title"]
                + (f"\n[size={int(u * 3.4)}]{entry['tag']}[/size]" if entry["tag"] else ""),
                markup=True,
                height=u * 17,
            )
            button.bind(on_release=lambda _b, entry=entry: self._start(entry))
            box.add_widget(button)

    def _start(self, entry: dict) -> None:
        """A procedure; for 自治体マイナポイント of several municipalities, the one picked."""
        self.send("start", menu=entry["start"], campaign_id=entry.get("campaign_id"))

    def on_wipe(self) -> None:
        self.ids.entries.clear_widgets()


SCREEN = MenuScreen
