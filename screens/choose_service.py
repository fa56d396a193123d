"""Choose service: a grid of payment services with category tabs and a search.

Each tile says where points come (on charge, on purchase) and marks services
that can only be registered in their own app; choosing one of those is refused
by the flow with its message, shown above the grid.
"""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, StringProperty

import screens.keyboard  # noqa: F401  (its widgets and rules, used in the .kv)
from kiosk.search import normalise_for_search
from screens.base import KioskScreen
from screens.widgets import KButton

ALL = "all"
#: Height of a tile and the gap between tiles, in ``u``: as many rows as fit make a page.
TILE_U, GAP_U = 15.0, 1.5


class ServiceTile(KButton):
    """One payment service: its name, and where its points come from."""

    code = StringProperty("")


class ChooseServiceScreen(KioskScreen):
    """Pick one of the campaign's services; tabs and a search narrow the grid."""

    category = StringProperty(ALL)
    searching = BooleanProperty(False)
    page = NumericProperty(0)
    pages = NumericProperty(1)

    def on_show(self) -> None:
        self.fill_grid()

    def on_category(self, *_args: Any) -> None:
        self.page = 0
        self.fill_grid()

    def turn_page(self, by: int) -> None:
        self.page = max(0, min(self.pages - 1, self.page + by))
        self.fill_grid()

    def on_searching(self, *_args: Any) -> None:
        self.page = 0
        if not self.searching:
            self.ids.search_keys.wipe()
        self.fill_grid()

    def search_changed(self) -> None:
        self.fill_grid()

    def visible_services(self) -> list[dict[str, Any]]:
        services = self.view.get("services", [])
        if self.searching:
            needle = normalise_for_search(self.ids.search_keys.text)
            return [s for s in services if needle in s["search"]] if needle else services
        return [s for s in services if self.category in (ALL, s["category"])]

    @property
    def columns(self) -> int:
        return 3 if self.width < self.app.u * 150 else 4

    @property
    def rows_that_fit(self) -> int:
        room = self.ids.grid_area.height
        return max(1, int((room + GAP_U * self.app.u) // ((TILE_U + GAP_U) * self.app.u)))

    def fill_grid(self, *_args: Any) -> None:
        grid = self.ids.grid
        grid.clear_widgets()
        grid.cols = self.columns
        u = self.app.u
        services = self.visible_services()
        per_page = self.columns * (1 if self.searching else self.rows_that_fit)
        self.pages = max(1, -(-len(services) // per_page))
        self.page = min(self.page, self.pages - 1)
        first = int(self.page) * per_page
        for service in services[first : first + per_page]:
            sub = self.tr(f"choose_service.points_on_{service['points_on']}")
            if not service["kiosk_allowed"]:
                sub = self.tr("choose_service.app_only")
            tile = ServiceTile(
                code=service["code"],
                action=f"service:{service['code']}",
                role="choice",
                markup=True,
                text=f"[b]{service['name']}[/b]\n[size={int(u * 3.4)}]{sub}[/size]",
            )
            tile.bind(on_release=self.choose)
            grid.add_widget(tile)
        self.ids.nothing_found.opacity = 0 if grid.children else 1

    def choose(self, tile: ServiceTile) -> None:
        self.send("service_chosen", code=tile.code)

    def on_wipe(self) -> None:
        self.searching = False
        self.category = ALL
        self.page = 0


SCREEN = ChooseServiceScreen
