"""The reference adapters' data file: JSON or TOML, re-read when it changes.

The payment provider (``central/provider.py``), the insurer (``central/insurer.py``) and
the municipal eligibility (``central/municipal.py``) each stand in for a real system with
a file an operator or a test edits. Whatever goes wrong with the file (not configured,
missing, unreadable, not a table) is ``ProviderUnavailable``: the item gets ``retry``,
never a final answer, because nothing about the person was judged.
"""

from __future__ import annotations

import json
import threading
import tomllib
from pathlib import Path
from typing import Any

from central.errors import ProviderUnavailable
from central.freshness import must_look


class ReferenceFile:
    """One data file, parsed again only when its mtime or size changes."""

    def __init__(self, path: Path | None, name: str) -> None:
        self.path = path
        self.name = name  # how errors name it: "accounts file", "insurer file", ...
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._doc: dict[str, Any] = {}
        self._last: dict[str, Any] | ProviderUnavailable = {}  # what the last look saw

    def read(self) -> dict[str, Any]:
        """The file's table; the same object until the file changes. Within a batch
        (``central.freshness.one_look``) the file is looked at once."""
        if not must_look(self):
            last = self._last
            if isinstance(last, ProviderUnavailable):
                raise last
            return last
        try:
            self._last = self._look()
        except ProviderUnavailable as exc:
            self._last = exc
            raise
        return self._last

    def _look(self) -> dict[str, Any]:
        if self.path is None:
            raise ProviderUnavailable(f"no {self.name} configured")
        try:
            st = self.path.stat()
        except OSError as exc:
            raise ProviderUnavailable(f"{self.name} missing") from exc
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    text = self.path.read_text(encoding="utf-8")
                    doc = tomllib.loads(text) if self.path.suffix == ".toml" else json.loads(text)
                except (OSError, ValueError) as exc:
                    raise ProviderUnavailable(f"{self.name} unreadable") from exc
                if not isinstance(doc, dict):
                    raise ProviderUnavailable(f"{self.name} is not a table")
                self._doc, self._stamp = doc, stamp
            return self._doc
