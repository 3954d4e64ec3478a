"""Render a page in headless Chromium and report what a user would see (for tests).

:func:`render` starts Chromium with ``--remote-debugging-pipe`` and talks the DevTools
protocol over the pipe (stdlib only, no extra package, no network port): it loads the
page, collects console errors, uncaught exceptions and failed loads, reads the DOM
(``DOM.getOuterHTML``), checks every ``<img>`` (``naturalWidth`` via a read-only
``Runtime.evaluate``; nothing is injected into the page), lists the requests the page
made, and saves a full-page screenshot whose pixel variance tells whether the page is
blank. :func:`skip_reason` says why tests must skip (no Chromium installed).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: where Chromium is looked for, in order (names are resolved on PATH)
CANDIDATES: tuple[str, ...] = (
    "/usr/bin/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)
#: what ``render(offline=True)`` adds: no name resolves but localhost, no connection leaves the
#: loopback address (a dead proxy on the discard port catches everything else)
OFFLINE_FLAGS: tuple[str, ...] = (
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1;localhost",
)
#: a screenshot whose grey levels (0–1) have a standard deviation below this is "blank"
BLANK_STD = 0.01
_IMAGES_JS = (
    "JSON.stringify(Array.from(document.images).map(i => ({src: i.currentSrc.slice(0, 80), "
    "complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight})))"
)


_TRAMPOLINE = (
    "import os, sys\n"
    "a, b = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2]))\n"
    "os.dup2(a, 3)\n"
    "os.dup2(b, 4)\n"
    "os.set_inheritable(3, True)\n"
    "os.set_inheritable(4, True)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


class BrowserError(RuntimeError):
    """Chromium could not be started or did not answer in time."""


@dataclass(frozen=True)
class BrowserCheck:
    """What :func:`render` saw.

    Attributes:
        console_errors: console ``error``/``assert`` messages, uncaught exceptions and
            error log entries (failed loads...), one line each.
        screenshot_path: the PNG screenshot (full page, capped in height).
        nonblank: whether the screenshot is not a uniform colour.
        dom_text: the DOM after load (``document.documentElement.outerHTML``).
        images: one dict per ``<img>``: ``src`` (first 80 chars), ``complete``,
            ``naturalWidth``, ``naturalHeight``.
        requests: URLs the page requested (the page itself included).
        screenshot_std: standard deviation of the screenshot's grey levels (0–1).
        values: the result of each ``probes`` expression (JSON values), by name.
        viewport_path: a screenshot of the first viewport only (what a reader sees first).
    """

    console_errors: list[str]
    screenshot_path: Path
    nonblank: bool
    dom_text: str
    images: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    screenshot_std: float = 0.0
    values: dict[str, Any] = field(default_factory=dict)
    viewport_path: Path | None = None

    @property
    def external_requests(self) -> list[str]:
        """Requests that left the page's own file (anything but ``data:``, ``file:``, ``about:``)."""
        return [u for u in self.requests if u.split(":", 1)[0] not in ("data", "file", "about", "blob")]

    @property
    def images_loaded(self) -> bool:
        """Every ``<img>`` decoded with a non-zero size (and there is at least one)."""
        return bool(self.images) and all(
            i.get("complete") and i.get("naturalWidth", 0) > 0 and i.get("naturalHeight", 0) > 0
            for i in self.images
        )


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None when none is installed."""
    for cand in CANDIDATES:
        path = cand if os.path.isabs(cand) else shutil.which(cand)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def skip_reason() -> str | None:
    """Why browser tests cannot run here (None when they can)."""
    if find_chromium() is None:
        return f"headless Chromium not installed (looked for {', '.join(CANDIDATES)})"
    return None


class _Pipe:
    """A DevTools-protocol connection over ``--remote-debugging-pipe`` (NUL-separated JSON)."""

    def __init__(self, proc: subprocess.Popen, write_fd: int, read_fd: int, deadline: float):
        self.proc, self.write_fd, self.read_fd, self.deadline = proc, write_fd, read_fd, deadline
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, until: float) -> dict[str, Any] | None:
        while b"\0" not in self.buffer:
            left = until - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed the DevTools pipe (exit code {self.proc.poll()})")
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict:
        """Send a command and wait for its result (events that arrive meanwhile are kept)."""
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.write_fd, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read_message(self.deadline)
            if reply is None:
                raise BrowserError(f"Chromium did not answer {method} in time")
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, until: float) -> bool:
        """Wait for an event (True) or the time limit (False)."""
        if any(e["method"] == method for e in self.events):
            return True
        while True:
            msg = self._read_message(min(until, self.deadline))
            if msg is None:
                return False
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return True

    def drain(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        until = min(time.monotonic() + seconds, self.deadline)
        while (msg := self._read_message(until)) is not None:
            if "method" in msg:
                self.events.append(msg)


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for e in events:
        p = e.get("params", {})
        if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = [str(a.get("value", a.get("description", ""))) for a in p.get("args", [])]
            errors.append("console." + p["type"] + ": " + " ".join(args))
        elif e["method"] == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            errors.append("exception: " + str((d.get("exception") or {}).get("description") or d.get("text")))
        elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            entry = p["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
        elif e["method"] == "Network.loadingFailed" and p.get("type") == "Document" and not p.get("canceled"):
            # sub-resources that fail are already reported by the Log domain, with their URL
            errors.append(f"network: {p.get('errorText')} ({p.get('type')})")
    return errors


def screenshot_std(path: Path) -> float:
    """Standard deviation of a PNG's grey levels (0 for a uniform image)."""
    from matplotlib.image import imread

    pixels = imread(str(path))
    grey = pixels[..., :3].mean(axis=-1) if pixels.ndim == 3 else pixels
    return float(grey.std())


def render(
    target: str | Path,
    screenshot_path: str | Path | None = None,
    *,
    width: int = 1280,
    height: int = 900,
    max_height: int = 6000,
    settle_s: float = 0.5,
    timeout_s: float = 60.0,
    probes: dict[str, str] | None = None,
    offline: bool = False,
) -> BrowserCheck:
    """Load a local file or URL in headless Chromium and check it.

    Args:
        target: a file path or a URL (``http://``, ``file://``...).
        screenshot_path: where to save the PNG (default: a temporary file).
        width: viewport width, CSS pixels.
        height: viewport height, CSS pixels.
        max_height: the full-page screenshot is cut at this height.
        settle_s: time to keep collecting console messages after the load event.
        timeout_s: limit for the whole check.
        probes: ``{name: JavaScript expression}`` evaluated after the load (read-only
            ``Runtime.evaluate``, results returned by value in ``values``).
        offline: a browser without network: every host name but ``localhost`` fails to resolve
            and every connection not to the loopback address goes to a dead proxy, so only
            ``file:``, ``data:`` and ``http://127.0.0.1`` (a test's own server) load.

    Returns:
        The :class:`BrowserCheck`.

    Raises:
        BrowserError: Chromium is missing, does not start, or does not answer in time.
    """
    exe = find_chromium()
    if exe is None:
        raise BrowserError(skip_reason() or "no Chromium")
    url = str(target)
    if "://" not in url:
        url = Path(target).resolve().as_uri()
    shot = Path(screenshot_path) if screenshot_path else Path(tempfile.mkdtemp()) / "screenshot.png"
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory(prefix="pairbench-chromium-") as profile:
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        args = [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]
        if offline:
            args += list(OFFLINE_FLAGS)
        args += ["--remote-debugging-pipe", "about:blank"]
        # Chromium reads commands on fd 3 and writes replies on fd 4: a tiny Python trampoline
        # puts the pipe ends there (a shell cannot redirect fds above 9 portably).
        proc = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(to_r), str(from_w), *args],
            pass_fds=(to_r, from_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_r)
        os.close(from_w)
        try:
            pipe = _Pipe(proc, to_w, from_r, deadline)
            return _check(pipe, url, shot, width, height, max_height, settle_s, probes or {})
        finally:
            for fd in (to_w, from_r):
                os.close(fd)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _check(
    pipe: _Pipe,
    url: str,
    shot: Path,
    width: int,
    height: int,
    max_height: int,
    settle_s: float,
    probes: dict[str, str],
) -> BrowserCheck:
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        pipe.events.clear()
        pipe.send("Page.navigate", {"url": url}, session=session)
        if not pipe.wait_event("Page.loadEventFired", pipe.deadline):
            raise BrowserError(f"{url} did not finish loading in time")
        pipe.drain(settle_s)
        doc = pipe.send("DOM.getDocument", {"depth": 0}, session=session)
        dom = pipe.send("DOM.getOuterHTML", {"nodeId": doc["root"]["nodeId"]}, session=session)["outerHTML"]
        result = pipe.send(
            "Runtime.evaluate", {"expression": _IMAGES_JS, "returnByValue": True}, session=session
        )
        images = json.loads(result.get("result", {}).get("value") or "[]")
        values = {}
        for name, expression in probes.items():
            reply = pipe.send(
                "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
            )
            values[name] = reply.get("result", {}).get("value")
        first = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        metrics = pipe.send("Page.getLayoutMetrics", session=session)
        size = metrics.get("cssContentSize") or metrics.get("contentSize") or {}
        clip = {
            "x": 0,
            "y": 0,
            "width": max(1, min(int(size.get("width", width)), 4 * width)),
            "height": max(1, min(int(size.get("height", height)), max_height)),
            "scale": 1,
        }
        data = pipe.send(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
            session=session,
        )["data"]
    finally:
        with contextlib.suppress(BrowserError, OSError):
            pipe.send("Browser.close")
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.write_bytes(base64.b64decode(data))
    viewport = shot.with_name(shot.stem + ".viewport.png")
    viewport.write_bytes(base64.b64decode(first))
    std = screenshot_std(shot)
    requests = [
        e["params"]["request"]["url"][:200] for e in pipe.events if e["method"] == "Network.requestWillBeSent"
    ]
    return BrowserCheck(
        console_errors=_console_errors(pipe.events),
        screenshot_path=shot,
        nonblank=std >= BLANK_STD,
        dom_text=dom,
        images=images,
        requests=requests,
        screenshot_std=std,
        values=values,
        viewport_path=viewport,
    )
