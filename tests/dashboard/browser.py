"""A person at a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by
Selenium): opens pages, reads them, presses buttons, and has axe-core look at every page. Selenium
blocks, and the bot and the fake Slack run on the test's event loop, so every step runs in a thread."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

AXE = Path(__file__).with_name("axe.min.js")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def start_chromium():
    """A headless Chromium, or a skip saying what to install (CI installs both packages)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--disable-extensions", "--no-first-run", "--lang=en-US"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


class Person:
    """What a person does in the browser, awaitable."""

    def __init__(self, driver) -> None:
        self.d = driver

    async def _do(self, fn, *args):
        return await asyncio.to_thread(fn, *args)

    async def open(self, url: str) -> None:
        await self._do(self.d.get, url)

    async def text(self) -> str:
        return await self._read("body")

    async def heading(self) -> str:
        return await self._read("h1")

    async def _read(self, tag: str, tries: int = 20) -> str:
        """The visible words of the first ``tag`` element. A page that is still navigating (a form
        that submits itself, an htmx swap) can replace the element between finding it and reading
        it; then the read is tried again on the page that replaced it."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By

        for _ in range(tries - 1):
            try:
                return await self._do(lambda: self.d.find_element(By.TAG_NAME, tag).text)
            except WebDriverException as e:
                if not _replaced(e):
                    raise
            await asyncio.sleep(0.1)
        return await self._do(lambda: self.d.find_element(By.TAG_NAME, tag).text)

    async def status_of(self, url: str) -> str:
        """The page's main text after opening ``url``."""
        await self.open(url)
        return await self.text()

    async def press(self, label: str, *, within: str | None = None) -> None:
        """Press the button whose visible words start with ``label`` (in the item that mentions
        ``within``, when given) and wait for the page that answers."""
        from selenium.webdriver.common.by import By

        def _press():
            scope = self.d
            if within is not None:
                scope = self.d.find_element(
                    By.XPATH, f"//article[contains(normalize-space(.), {_xpath_text(within)})]")
            buttons = [b for b in scope.find_elements(By.TAG_NAME, "button") if b.text.strip().startswith(label)]
            assert buttons, f"no button {label!r} on {self.d.current_url}"
            old = self.d.find_element(By.TAG_NAME, "main")
            buttons[0].click()
            return old

        old = await self._do(_press)
        await self.settled(old)

    async def follow(self, link_text: str) -> None:
        """Follow a link by its words (htmx swaps the page in when JavaScript is on)."""
        from selenium.webdriver.common.by import By

        def _follow():
            old = self.d.find_element(By.TAG_NAME, "main")
            self.d.find_element(By.LINK_TEXT, link_text).click()
            return old

        await self.settled(await self._do(_follow))

    async def tick(self, label: str) -> None:
        from selenium.webdriver.common.by import By

        await self._do(lambda: self.d.find_element(By.XPATH, f"//label[normalize-space(.)={_xpath_text(label)}]").click())

    async def settled(self, old=None, timeout: float = 10) -> None:
        """Wait until the page that answered is shown (a new document, or htmx swapped the body)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        def _gone(d):
            if old is None:
                return True
            try:
                old.tag_name  # noqa: B018 - touching it raises once it is replaced
                return False
            except WebDriverException as e:
                if not _replaced(e):
                    raise
                return d.find_elements(By.TAG_NAME, "main") != []

        await self._do(lambda: WebDriverWait(self.d, timeout).until(_gone))
        await self._do(lambda: WebDriverWait(self.d, timeout).until(
            lambda d: d.execute_script("return document.readyState") == "complete"))

    async def javascript(self, on: bool) -> None:
        """Switch the page's JavaScript off or on (as a person with it disabled)."""
        await self._do(self.d.execute_cdp_cmd, "Emulation.setScriptExecutionDisabled", {"value": not on})

    async def axe(self) -> list[dict]:
        """axe-core's serious and critical violations (WCAG 2.0/2.1 A and AA) on the page shown."""
        source = AXE.read_text(encoding="utf-8")

        def _run():
            self.d.execute_script(source)
            self.d.set_script_timeout(30)
            return self.d.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
                ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
                " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))))"
                ".catch(e => done([{id: 'axe-failed', impact: 'critical', help: String(e), nodes: []}]));")

        found = await self._do(_run)
        return [v for v in found if v["impact"] in ("serious", "critical")]


def _replaced(e: Exception) -> bool:
    """The element was replaced by a navigation or a swap: selenium reports it as stale, or (when
    the read races the new document) as a node that no longer belongs to the document."""
    from selenium.common.exceptions import StaleElementReferenceException

    return isinstance(e, StaleElementReferenceException) or "does not belong to the document" in str(e)


def _xpath_text(s: str) -> str:
    if "'" not in s:
        return f"'{s}'"
    return "concat('" + "', \"'\", '".join(s.split("'")) + "')"
