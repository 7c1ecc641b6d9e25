"""Hostile and broken POSTs to ``/slack/events`` (HTTP mode): the signature is checked before anything
is parsed, so unsigned and forged requests get 401 and no work; a signed body that is not what Slack
sends gets 400 and one short log line; never a 500, never a traceback."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import aiohttp

from tests.fakes.slack_requests import sign, team_join

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _requests(secret: str) -> list[tuple[str, bytes, dict[str, str], int]]:
    """(name, body, headers, expected status): what an attacker or a broken proxy sends."""

    def signed(body: bytes, ctype: str = JSON) -> dict[str, str]:
        # signed as Slack signs: the bytes, whatever they are
        ts = str(int(time.time()))
        sig = "v0=" + hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        return {"Content-Type": ctype, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}

    deep = b"[" * 100_000 + b"]" * 100_000
    return [
        ("unsigned json", b'{"type": "event_callback", "event": {}}', {"Content-Type": JSON}, 401),
        ("unsigned garbage", b"{not json", {"Content-Type": JSON}, 401),
        ("unsigned form payload", b"payload=%7Bnot", {"Content-Type": FORM}, 401),
        ("unsigned binary", b"\xff\xfe\x00\x01", {"Content-Type": JSON}, 401),
        ("forged garbage", b"{not json", {"Content-Type": JSON, **sign("not-the-secret", "{not json")}, 401),
        ("timestamp not a number", b"{}", {"Content-Type": JSON, "X-Slack-Request-Timestamp": "abc",
                                           "X-Slack-Signature": "v0=00"}, 401),
        ("signature without timestamp", b"{}", {"Content-Type": JSON, "X-Slack-Signature": "v0=00"}, 401),
        ("unsigned deep nesting", deep, {"Content-Type": JSON}, 401),
        ("signed garbage", b"{not json", signed(b"{not json"), 400),
        ("signed form with a broken payload", b"payload=%7Bnot", signed(b"payload=%7Bnot", FORM), 400),
        ("signed JSON that is not an object", b"[1, 2]", signed(b"[1, 2]"), 400),
        ("signed binary", b"\xff\xfe\x00\x01", signed(b"\xff\xfe\x00\x01"), 400),
        ("signed deep nesting", deep, signed(deep), 400),
        ("signed, authorizations not objects", b'{"authorizations": [1]}', signed(b'{"authorizations": [1]}'), 400),
        ("signed, actions not a list", b'{"type": "block_actions", "actions": 5}',
         signed(b'{"type": "block_actions", "actions": 5}'), 400),
    ]


async def test_unsigned_and_malformed_posts_are_refused_with_one_short_line_each(start_bot, fake, caplog):
    bot = await start_bot("http")
    caplog.set_level(logging.INFO)
    kinds = _requests(fake.signing_secret)
    seen: dict[str, list[int]] = {}
    rounds = 70  # 15 kinds x 70 = 1,050 requests
    async with aiohttp.ClientSession() as s:
        for _ in range(rounds):
            for name, body, headers, _want in kinds:
                async with s.post(bot.adapter.http_url, data=body, headers=headers) as r:
                    seen.setdefault(name, []).append(r.status)
    assert {name: sorted(set(st)) for name, st in seen.items()} == {name: [want] for name, _, _, want in kinds}

    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r for r in records if r.exc_info] == []
    assert "Traceback" not in caplog.text
    # one short line per signed malformed request, none for the unsigned ones (they cost no work)
    refused = [r.getMessage() for r in records if "refused a signed request" in r.getMessage()]
    malformed = sum(1 for *_, want in kinds if want == 400) * rounds
    assert len(refused) == malformed == len(records)
    assert max(len(m) for m in refused) < 120
    assert "body is not JSON or a form Slack sends" in refused[0]

    # and a real event still gets through
    status, _ = await bot.http.event(team_join("U700", "Rosa"))
    assert status == 200
    await bot.settle()
    assert [e.member_id for e in bot.dispatched] == ["U700"]
