"""A procedure done elsewhere (公金受取口座: on マイナポータル) with a QR code to its official
page, or a closed procedure with why and what to do instead. It takes no data."""

from __future__ import annotations

from kivy.properties import ObjectProperty

from screens.base import KioskScreen
from screens.receipt import qr_texture


class ProcedureInfoScreen(KioskScreen):
    qr = ObjectProperty(None, allownone=True)

    def on_show(self) -> None:
        url = (self.view.get("info") or {}).get("url")
        self.qr = qr_texture(url) if url else None

    def on_wipe(self) -> None:
        self.qr = None


SCREEN = ProcedureInfoScreen
