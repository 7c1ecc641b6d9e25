"""``steward demo`` ends with the demo community's dashboard, served until Ctrl-C, and a link that
signs its manager in; ``--no-serve`` (CI) just prints."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.dashboard.conftest import sign_in

STEWARD = Path(sys.executable).with_name("steward")


@pytest.mark.slow
async def test_the_demo_ends_with_its_dashboard_until_ctrl_c():
    env = {**os.environ, "COLUMNS": "300"}
    proc = await asyncio.create_subprocess_exec(str(STEWARD), "demo", "--members", "150", "--days", "21",
                                                "--limit", "5", "--port", "0", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out: list[str] = []
    try:
        link = None
        while link is None:
            line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
            assert line, "steward demo ended early:\n" + "".join(out)
            out.append(line)
            m = re.search(r"Sign in \(once, within 10 minutes\): (http://\S+)", line)
            link = m.group(1) if m else None
        assert any(re.search(r"Dashboard: http://127\.0\.0\.1:\d+/", ln) for ln in out), "".join(out)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            resp = await sign_in(http, link)
            assert resp.status == 303
            base = link.split("/login/")[0]
            for path in ("/", "/questions", "/ambassadors", "/moderation", "/outreach", "/playbooks", "/audit"):
                async with http.get(base + path) as page:
                    assert page.status == 200, path
                    assert "Steward · Open Garden" in await page.text()
            async with http.get(base + "/outreach") as page:  # the demo is a dry run: what would have gone out
                assert "Dry run: would have been sent" in await page.text()
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
