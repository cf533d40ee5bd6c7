"""A real headless Chromium (the Debian package; `make browser` installs it) for the report's
browser tests: the DOM after load (`--dump-dom`), a screenshot (`--screenshot`), and the console
errors of a page, read through the DevTools protocol over a pipe (`--remote-debugging-pipe`:
null-terminated JSON on file descriptors 3 and 4, so no websocket client is needed).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium")
FLAGS = ("--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
         "--no-first-run", "--disable-extensions")
TIMEOUT = 60.0


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is not on PATH (make browser)"
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True,
                          timeout=TIMEOUT, check=True)


def dump_dom(url: str) -> str:
    """The page's DOM once loaded, as HTML."""
    return _run("--dump-dom", url).stdout


def screenshot(url: str, path: Path, width: int = 1280, height: int = 4000) -> Path:
    """A PNG of the page's first width x height pixels."""
    _run(f"--screenshot={path}", f"--window-size={width},{height}", url)
    return path


class DevToolsPipe:
    """A Chromium driven through the DevTools protocol on a pipe (fd 3: commands in, fd 4:
    replies and events out)."""

    def __init__(self) -> None:
        assert CHROMIUM, "chromium is not on PATH (make browser)"
        to_chromium, self._out = os.pipe()
        self._in, from_chromium = os.pipe()

        def on_fds_3_and_4() -> None:  # runs in the child, before exec
            os.dup2(to_chromium, 3)
            os.dup2(from_chromium, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=on_fds_3_and_4, pass_fds=(3, 4),
        )
        os.close(to_chromium)
        os.close(from_chromium)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command and return its result (events met meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self.receive(deadline - time.monotonic())
            assert reply is not None, f"no reply to {method}"
            if reply.get("id") == self._next_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply.get("result", {})
            self.events.append(reply)

    def receive(self, seconds: float) -> dict | None:
        """The next message, or None when none comes within `seconds`."""
        deadline = time.monotonic() + max(seconds, 0)
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                return None
            chunk = os.read(self._in, 65536)
            assert chunk, "chromium closed its DevTools pipe"
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def wait_for(self, method: str, seconds: float = TIMEOUT) -> None:
        if any(event.get("method") == method for event in self.events):
            return
        deadline = time.monotonic() + seconds
        while (event := self.receive(deadline - time.monotonic())) is not None:
            self.events.append(event)
            if event.get("method") == method:
                return
        raise AssertionError(f"no {method} within {seconds} s")

    def collect(self, seconds: float) -> None:
        """Keep every message arriving within `seconds`."""
        deadline = time.monotonic() + seconds
        while (event := self.receive(deadline - time.monotonic())) is not None:
            self.events.append(event)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        finally:
            self.process.wait(timeout=TIMEOUT)
            os.close(self._in)
            os.close(self._out)


def console_errors(url: str, settle: float = 1.0) -> list[str]:
    """Every error the page reports while loading and for `settle` seconds after: console.error
    and console.assert calls, uncaught exceptions, and the browser's own errors (blocked or
    failed loads, Content-Security-Policy violations)."""
    browser = DevToolsPipe()
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget",
                               {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Page.navigate", {"url": url}, session=session)
        browser.wait_for("Page.loadEventFired")
        browser.collect(settle)
    finally:
        browser.close()
    return [error for event in browser.events if (error := _error_text(event))]


def _error_text(event: dict[str, Any]) -> str | None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return "console: " + " ".join(
            str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        return "exception: " + str(details.get("exception", {}).get("description")
                                   or details.get("text"))
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        return "browser: " + str(params["entry"].get("text"))
    return None
