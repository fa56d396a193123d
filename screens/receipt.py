"""Receipt: printing; when the printer fails, the receipt on screen with its QR code."""

from __future__ import annotations

import io
from typing import Any

import qrcode
from kivy.core.image import Image as CoreImage
from kivy.graphics.texture import Texture
from kivy.properties import ObjectProperty

from screens.base import KioskScreen


def qr_texture(text: str) -> Texture:
    """A QR code of ``text`` as a Kivy texture (black on white, 4-module quiet zone)."""
    return image_texture(qrcode.make(text, border=4))


def image_texture(image: Any) -> Texture:
    """A PIL image (the receipt as the printer would print it) as a Kivy texture."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    texture = CoreImage(buffer, ext="png").texture
    texture.mag_filter = "nearest"
    return texture


class ReceiptScreen(KioskScreen):
    """While printing: a spinner. Printer failed: the receipt to photograph."""

    qr = ObjectProperty(None, allownone=True)
    paper = ObjectProperty(None, allownone=True)

    def on_show(self) -> None:
        on_screen = self.view.get("receipt_on_screen")
        text, image = self.view.get("receipt_qr"), self.view.get("receipt_image")
        self.qr = qr_texture(text) if on_screen and text and image is None else None
        self.paper = image_texture(image) if on_screen and image is not None else None
        spinner = self.ids.spinner
        spinner.start() if self.view.get("receipt_printing") else spinner.stop()

    def on_hide(self) -> None:
        self.ids.spinner.stop()

    def on_wipe(self) -> None:
        self.qr = None
        self.paper = None


SCREEN = ReceiptScreen
