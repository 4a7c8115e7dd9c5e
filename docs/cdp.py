"""A headless Chromium driven over the DevTools protocol, for ``docs/screenshots.py``.

The UIs screenshotted are single-page apps that render after their API calls return and
greet a first-time visitor with pop-ups; a plain ``chromium --screenshot`` catches neither.
This drives one tab: navigate, wait until given text is on the page, run a line of
JavaScript (close a pop-up, switch a mode), take a PNG. It needs only Debian's ``chromium``
and the ``websockets`` package (already installed with Prefect): no browser download.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

# 127.0.0.1 only: a screenshot must show what an offline machine shows.
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
    "--disable-extensions", "--proxy-server=127.0.0.1:9",
    "--allow-file-access-from-files", "--remote-debugging-port=0",
]  # fmt: skip


class Browser:
    """One Chromium tab; use as a context manager (the browser stops on exit)."""

    def __init__(self, width: int = 1500, height: int = 1000) -> None:
        self.width, self.height = width, height
        self._ids = itertools.count(1)

    def __enter__(self) -> Browser:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            sys.exit("chromium not found: apt-get install chromium")
        self._profile = tempfile.TemporaryDirectory()
        self._proc = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        port = self._devtools_port()
        tab = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json()
                   if t["type"] == "page")  # fmt: skip
        self._ws = connect(tab["webSocketDebuggerUrl"], max_size=None, proxy=None)
        self.call("Page.enable")
        self._resize(self.height)
        return self

    def __exit__(self, *exc: object) -> None:
        self._ws.close()
        self._proc.terminate()
        self._proc.wait(timeout=15)
        self._profile.cleanup()

    def _devtools_port(self) -> int:
        """Chromium prints ``DevTools listening on ws://127.0.0.1:PORT/...`` on start."""
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                return int(found.group(1))
        sys.exit("chromium exited before opening its DevTools port")

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are skipped)."""
        number = next(self._ids)
        self._ws.send(json.dumps({"id": number, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self._ws.recv(timeout=120))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        answer = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        return answer.get("result", {}).get("value")

    def open(self, url: str, wait_for: str | None = None, timeout: float = 60) -> None:
        """Navigate and wait until the page holds ``wait_for`` (text), or just loads."""
        self.call("Page.navigate", {"url": url})
        time.sleep(1.0)  # hash routes: the old page's text must not satisfy the wait
        self.wait(wait_for, timeout)

    def wait(self, text: str | None, timeout: float = 60) -> None:
        """Wait until the page's visible text contains ``text`` (then a moment to settle)."""
        deadline = time.monotonic() + timeout
        probe = (
            "document.readyState === 'complete'"
            if text is None
            else f"document.body && document.body.innerText.includes({json.dumps(text)})"
        )
        while not self.js(probe):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} did not appear within {timeout:.0f} s")
            time.sleep(0.5)
        time.sleep(1.5)

    def click_text(self, text: str, selector: str = "*") -> bool:
        """Click the innermost element matching ``selector`` whose text is exactly ``text``
        (the click bubbles up to whatever handles it: a button, a menu item, a checkbox)."""
        return bool(
            self.js(
                f"(() => {{ const el = [...document.querySelectorAll({json.dumps(selector)})]"
                f".filter(e => e.innerText && e.innerText.trim() === {json.dumps(text)}).pop();"
                " if (el) { el.click(); return true; } return false; })()"
            )
        )

    def screenshot(self, path: Path, height: int | None = None) -> Path:
        """Save the view as a PNG; ``height`` makes the view that tall for this one (an app
        that fills the window lays itself out again for the taller view)."""
        if height:
            self._resize(height)
            time.sleep(2)
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        if height:
            self._resize(self.height)
        return path

    def _resize(self, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
