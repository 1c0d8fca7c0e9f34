"""The control server: aiohttp on its own thread and event loop, beside a live session.

Pages: `/` (the control page) and `/output` (a transparent page for OBS's Browser Source). Sockets:
`/ws?kind=control|output` push frames (JPEG colour and, for the output page, a JPEG alpha) and, to the
control page, the session's figures. `/api/control` takes a change as JSON, `/api/background` an image.

Every request needs the token printed at start (`?token=` or an `X-Vmatte-Token` header), a `Host`
that names this server (so a web page elsewhere cannot reach it by DNS rebinding) and, where the browser
sends one, an `Origin` of this server (so another site cannot drive it). Frames are converted and
encoded on a thread of their own, only while a page watches, and each socket sends only the newest
frame it has not sent: a slow browser skips frames; the session never waits for it.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from aiohttp import WSMsgType, web

from ..errors import VmatteError, log
from ..stats import Samples
from . import Controls
from .feed import FrameEncoder

MAX_UPLOAD = 20 << 20  # bytes: a background image
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                      "img-src 'self' blob: data:; connect-src 'self'"}


class _Client:
    """One socket: the newest message not yet sent, an event that says there is one, and when the last
    frame went out that the page has not yet said it drew (one frame in flight a page: a page that draws
    slowly is sent, and costs the encoder, only the frames it can draw)."""

    def __init__(self, ws: web.WebSocketResponse, kind: str) -> None:
        self.ws, self.kind, self.latest, self.ready = ws, kind, None, asyncio.Event()
        self.in_flight: float | None = None  # perf_counter time of the frame sent and not yet drawn

    def wants_frame(self) -> bool:
        return self.in_flight is None or time.perf_counter() - self.in_flight > 1.0  # a lost answer: go on

    def offer(self, message: tuple[str, bytes | None]) -> None:
        self.latest = message
        self.ready.set()


class ControlServer:
    """Serves the pages for one session. `publish()` is called from the frame path and only keeps
    references; `figures` gives the session's figures (a dict) for the control page."""

    def __init__(self, controls: Controls, host: str, port: int, size: tuple[int, int],
                 figures: Callable[[], dict[str, Any]] = dict) -> None:
        self.controls, self.host, self.size, self.figures = controls, host, size, figures
        self.token = secrets.token_urlsafe(18)
        self.browser = Samples()  # capture to the output page's draw, seconds
        self.clients: set[_Client] = set()
        self.sent: OrderedDict[int, float] = OrderedDict()  # frame number -> capture time, the latest sent
        self._uploads = Path(tempfile.mkdtemp(prefix="vmatte-control-"))
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
            self._sock.listen(16)
        except OSError as e:
            self._sock.close()
            shutil.rmtree(self._uploads, ignore_errors=True)
            raise VmatteError(f"--control {host}:{port}: cannot listen there ({e.strerror}); pick another port, "
                              "or 0 for any free one") from None
        self.port = self._sock.getsockname()[1]
        self.loopback = ipaddress.ip_address(host).is_loopback  # else reachable from the network
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="vmatte-control", daemon=True)
        self.encoder = FrameEncoder(self._wanted, self._encoded)

    # ---- life cycle (called from the session's thread) ----

    def start(self) -> None:
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_UPLOAD)
        app.add_routes([web.get("/", self._page("control.html")), web.get("/output", self._page("output.html")),
                        web.get("/ws", self._socket), web.post("/api/control", self._control),
                        web.post("/api/background", self._background), web.get("/api/state", self._state)])
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        self._thread.start()
        self._call(self._runner.setup())
        self._call(web.SockSite(self._runner, self._sock).start())
        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(self._push_figures()))
        self.encoder.start()

    def url(self, page: str = "") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/{page}?token={self.token}"

    def close(self) -> None:
        self.encoder.close()
        if self._thread.is_alive():
            try:
                self._call(self._shutdown(), timeout=5)
            except Exception as e:  # closing must not hide the session's own result
                log.info(f"control server: {type(e).__name__} while closing")
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        self._sock.close()
        shutil.rmtree(self._uploads, ignore_errors=True)

    def _call(self, coro, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _shutdown(self) -> None:
        for c in list(self.clients):
            await c.ws.close()
        await self._runner.cleanup()

    # ---- frames: kept by reference on the frame path, converted and encoded on the encoder thread ----

    def publish(self, index: int, picture: Any, rgba: Callable[[], Any], captured: float) -> None:
        """Frame `index`: `picture` is the sink's [1,C,H,W] tensor, `rgba()` makes the straight-alpha
        [1,4,H,W] one; `captured` a perf_counter time. Only references are kept; never blocks on a browser."""
        if self.clients:
            self.encoder.offer(index, picture, rgba, captured)

    def _wanted(self) -> set[str]:
        """The kinds of page (output, control) that are ready for a frame now."""
        return {c.kind for c in list(self.clients) if c.wants_frame()}

    def _encoded(self, index: int, captured: float, messages: dict[str, tuple]) -> None:
        """From the encoder's thread: remember when frame `index` was captured, and hand the messages on."""
        self.sent[index] = captured
        while len(self.sent) > 256:
            self.sent.popitem(last=False)
        self.loop.call_soon_threadsafe(self._deliver, messages)

    def _deliver(self, messages: dict[str, tuple]) -> None:
        for c in list(self.clients):
            if c.kind in messages and c.wants_frame():
                c.offer(messages[c.kind])

    # ---- HTTP ----

    def _host_ok(self, host: str) -> bool:
        """The Host header names this server: its bound address, or a loopback name when bound there; when
        bound to every interface, any IP address (a rebinding attack needs a DNS name) or localhost."""
        name, _, port = host.rpartition(":")
        if not name or port != str(self.port):
            return False
        name = name.strip("[]")
        if name == "localhost":
            return True
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return False
        bound = ipaddress.ip_address(self.host)
        return ip == bound or bound.is_unspecified or (bound.is_loopback and ip.is_loopback)

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if not self._host_ok(host):
            return web.Response(status=403, text="vmatte: this server is not reached under that name\n")
        token = request.query.get("token") or request.headers.get("X-Vmatte-Token", "")
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            return web.Response(status=403, text="vmatte: open the URL vmatte printed, with its token\n")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            return web.Response(status=403, text="vmatte: requests from another site are refused\n")
        response = await handler(request)
        if not response.prepared:
            response.headers.update(HEADERS)
        return response

    def _page(self, name: str) -> Callable:
        text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")

        async def page(request: web.Request) -> web.Response:
            return web.Response(text=text, content_type="text/html", headers=HEADERS)

        return page

    def _answer(self, apply: Callable[[], int]) -> web.Response:
        try:
            frame = apply()
        except VmatteError as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response({"frame": frame, "settings": self._settings()})

    def _settings(self) -> dict[str, Any]:
        s = self.controls.current()
        background = "image" if s.background.startswith(str(self._uploads)) else s.background
        return {"background": background, "mirror": s.mirror, "downsample_ratio": s.downsample_ratio,
                "paused": s.paused, "alpha_sink": self.controls.alpha_sink}

    async def _control(self, request: web.Request) -> web.Response:
        try:
            change = await request.json()
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "send a JSON object"}, status=400)
        return self._answer(lambda: self.controls.update(change))

    async def _background(self, request: web.Request) -> web.Response:
        data = await request.read()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        if image is None:
            return web.json_response({"error": "not an image OpenCV reads (PNG, JPEG, WebP, ...)"}, status=400)
        path = self._uploads / f"background-{secrets.token_hex(4)}.png"
        cv2.imwrite(str(path), image)  # the decoded pixels, re-encoded: the session reads a known-good file
        return self._answer(lambda: self.controls.update({"background": str(path)}, uploaded=str(path)))

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response({"settings": self._settings(), "figures": self._figures()})

    def _figures(self) -> dict[str, Any]:
        from ..stats import percentiles

        figures = dict(self.figures())
        if self.browser:
            recent = percentiles(list(self.browser.recent))
            figures["browser_ms"] = {"p50": recent["p50"], "p95": recent["p95"]}
        return figures

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        kind = request.query.get("kind", "output")
        ws = web.WebSocketResponse(heartbeat=10)
        await ws.prepare(request)
        client = _Client(ws, "control" if kind == "control" else "output")
        self.clients.add(client)
        sender = asyncio.ensure_future(self._send(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    client.in_flight = None
                    if client.kind == "output":
                        self._drawn(msg.data)
        finally:
            self.clients.discard(client)
            sender.cancel()
        return ws

    def _drawn(self, text: str) -> None:
        """The output page drew a frame: capture to draw, on this server's clock."""
        try:
            frame = int(json.loads(text).get("drawn"))
        except (ValueError, TypeError, AttributeError):
            return
        captured = self.sent.get(frame)
        if captured is not None:
            self.browser.add(time.perf_counter() - captured)

    async def _send(self, client: _Client) -> None:
        try:
            while not client.ws.closed:
                await client.ready.wait()
                client.ready.clear()
                text, data = client.latest
                await client.ws.send_str(text)
                if data is not None:
                    client.in_flight = time.perf_counter()
                    await client.ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            pass  # the browser went away: only its own frames are lost

    async def _push_figures(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            watching = [c for c in self.clients if c.kind == "control"]
            if watching:
                text = json.dumps({"figures": self._figures(), "settings": self._settings()})
                for c in watching:
                    if c.latest is None or not c.ready.is_set():
                        c.offer((text, None))
