"""Text as people read it: the platforms' mention markup (``<@U1>``, ``<@!1234>``, ``<#C1|help>``) and
the ``@ID`` in Steward's own reasons become @name and #channel, with the names looked up once per
page (only the IDs the page shows). The page escapes the result like any other text."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from bot.dashboard import queries

_MENTION = re.compile(r"<@[!&]?([A-Za-z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([A-Za-z0-9]+)(?:\|([^>]*))?>")
#: Slack's broadcast markup as people see it
_BROADCAST = re.compile(r"<!(channel|here|everyone)(?:\|[^>]*)?>")
#: an ``@ID`` in a reason Steward wrote (``closest: @U0295DEMO``): a Slack or Discord ID
_BARE = re.compile(r"@([UW][A-Z0-9]{6,}|\d{15,22})\b")
#: a ``#ID`` (a message rendered as plain text names channels so)
_BARE_CHANNEL = re.compile(r"#([CG][A-Z0-9]{6,}|\d{15,22})\b")


async def reader(store, platform: str, channels: dict[str, str], texts: Iterable[str | None]
                 ) -> Callable[[str | None], str]:
    """A function that reads any of ``texts`` as people do."""
    ids: set[str] = set()
    for t in texts:
        if t:
            ids.update(m.group(1) for m in _MENTION.finditer(t))
            ids.update(m.group(1) for m in _BARE.finditer(t))
    who = await queries.names(store, platform, ids)

    def read(text: str | None) -> str:
        if not text:
            return ""
        text = _MENTION.sub(lambda m: "@" + who.get(m.group(1), m.group(1)), text)
        text = _BROADCAST.sub(lambda m: "@" + m.group(1), text)
        text = _CHANNEL.sub(lambda m: "#" + (channels.get(m.group(1)) or m.group(2) or m.group(1)), text)
        text = _BARE_CHANNEL.sub(lambda m: "#" + channels.get(m.group(1), m.group(1)), text)
        return _BARE.sub(lambda m: "@" + who.get(m.group(1), m.group(1)), text)

    return read


#: a member ID standing alone in a playbook run's subject (``U0132DEMO+U0292DEMO``, ``intro23:U0308DEMO``)
_SUBJECT_ID = re.compile(r"(?<![A-Za-z0-9])([A-Z0-9]{3,22})(?![A-Za-z0-9])")
#: a message's key as a subject: ``channel/message``
_MESSAGE_KEY = re.compile(r"^([A-Z][A-Z0-9]{5,}|\d{15,22})/([\d.]+)$")


async def subjects(store, platform: str, channels: dict[str, str], keys: Iterable[str]) -> dict[str, str]:
    """Playbook runs' subjects as people read them: members by name, a message as ``#channel`` and
    its ID."""
    keys = list(keys)
    ids = {m.group(1) for k in keys for m in _SUBJECT_ID.finditer(k)}
    who = await queries.names(store, platform, ids)
    out = {}
    for k in keys:
        m = _MESSAGE_KEY.match(k)
        if m and m.group(1) in channels:
            out[k] = f"#{channels[m.group(1)]} {m.group(2)}"
        else:
            out[k] = _SUBJECT_ID.sub(lambda x: who.get(x.group(1), x.group(1)), k)  # IDs of nobody stay
    return out
