"""A real headless Chromium, driven through the DevTools protocol (CDP) over its WebSocket.

Debian's `chromium` (installed by .ci/run). Each page is a tab; `evaluate()` runs JavaScript in it and
returns the value, `screenshot()` saves a PNG. The WebSocket is aiohttp's client, on a loop of its own.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


def need_browser() -> str:
    """Chromium's path; outside CI a missing one skips, in CI it fails (.ci/run installs it)."""
    if BROWSER is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it from Debian")
        pytest.skip("headless Chromium not installed (apt-get install chromium)")
    return BROWSER


class Page:
    """One tab: JavaScript in, values out."""

    def __init__(self, browser: Chromium, target: dict) -> None:
        self.browser, self.id = browser, target["id"]
        self.ws: aiohttp.ClientWebSocketResponse = browser.run(browser.session.ws_connect(
            target["webSocketDebuggerUrl"], max_msg_size=0))
        self.ids = itertools.count(1)

    async def _call(self, method: str, params: dict) -> dict:
        n = next(self.ids)
        await self.ws.send_str(json.dumps({"id": n, "method": method, "params": params}))
        async for msg in self.ws:
            data = json.loads(msg.data)
            if data.get("id") == n:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data["result"]
        raise RuntimeError("the browser closed the tab")

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict:
        return self.browser.run(self._call(method, params), timeout)

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        r = self.call("Runtime.evaluate", timeout, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression[:60]}...: {r['exceptionDetails'].get('text')} "
                               f"{r['exceptionDetails'].get('exception', {}).get('description', '')}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        """Poll `expression` until it is truthy; its value."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{expression} stayed false for {timeout} s")

    def screenshot(self, path: Path, transparent: bool = False) -> None:
        if transparent:
            self.call("Emulation.setDefaultBackgroundColorOverride", color={"r": 0, "g": 0, "b": 0, "a": 0})
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))


class Chromium:
    """A headless Chromium with its own profile in `folder`; `open(url)` gives a Page."""

    def __init__(self, folder: Path, width: int = 1100, height: int = 800) -> None:
        profile = folder / "profile"
        profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [need_browser(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        end = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > end or self.proc.poll() is not None:
                self.proc.kill()
                raise RuntimeError("chromium did not start its DevTools server")
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.session: aiohttp.ClientSession = self.run(self._session())

    @staticmethod
    async def _session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def run(self, coro, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def open(self, url: str) -> Page:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?{url}", method="PUT")
        with urllib.request.urlopen(req, timeout=10) as r:
            page = Page(self, json.loads(r.read()))
        page.call("Page.enable")
        page.call("Runtime.enable")
        return page

    def kill(self) -> None:
        """Ends the browser at once, as a user closing it would (no goodbye to the server)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        try:
            self.run(self.session.close(), 5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
