"""A webhook receiver on 127.0.0.1 (port 0) that checks signatures with the README's own example
code, and can be told to answer 500s or hang before it accepts."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter

from aiohttp import web

from tests.conftest import ROOT


def readme_verify():
    """The receiver's verification function, exactly as the README shows it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"```python\n(\s*import hashlib, hmac, time\n.*?)```", text, re.S)
    assert m, "the README's verification example is missing"
    code = "\n".join(line[2:] if line.startswith("  ") else line for line in m.group(1).splitlines())
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - the documented example, run as a reader would
    return ns["verify"]


class Receiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.verify = readme_verify()
        #: what to do with the next requests, in order: "500", "hang", "ok" (when empty: ok)
        self.script: list[str] = []
        self.requests = 0
        self.bad_signatures = 0
        #: events accepted (2xx answered), in order, and how often each id was accepted
        self.accepted: list[dict] = []
        self.ids: Counter = Counter()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        raw = await request.read()
        if not self.verify(self.secret, request.headers.get("Steward-Signature", ""), raw):
            self.bad_signatures += 1
            return web.Response(status=401)
        mode = self.script.pop(0) if self.script else "ok"
        if mode == "500":
            return web.Response(status=500, text="try later")
        if mode == "hang":
            await asyncio.sleep(5)
            return web.Response(status=200)  # nobody is listening any more
        doc = json.loads(raw)
        assert request.headers["Steward-Event-Id"] == doc["id"]
        if not self.ids[doc["id"]]:
            self.accepted.append(doc)
        self.ids[doc["id"]] += 1
        return web.json_response({"ok": True})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
