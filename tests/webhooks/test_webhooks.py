"""Webhooks out, against a local receiver that checks signatures with the README's example:
each event arrives once after 500s and hangs, a give-up is recorded and shown, forged and old
requests fail verification, a forget sends member.forgotten. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from datetime import timedelta

import jsonschema
import pytest
import pytest_asyncio

from bot.core.events import CommandInvoked, MemberJoined
from bot.storage.cli import failure_report
from tests.conftest import ROOT, T0
from tests.webhooks.receiver import Receiver, readme_verify

SECRET = "test-webhook-secret-1234"


@pytest_asyncio.fixture
async def receiver():
    r = Receiver(SECRET)
    await r.start()
    yield r
    await r.stop()


def hooks(url: str, **over) -> dict:
    conf = {"give_up_after": "1h", "timeout_seconds": 0.5, "backoff_base_seconds": 5,
            "endpoints": {"crm": {"url": url, "secret_env": "CRM_HOOK_SECRET", "events": ["*"]}}}
    conf.update(over)
    return {"webhooks": conf}


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("CRM_HOOK_SECRET", SECRET)


async def _join(app, member_id="U0ADA", name="Ada", at=T0):
    await app.engine.dispatch(MemberJoined(platform="slack", at=at, member_id=member_id, display_name=name))


async def _step(app, seconds: float) -> int:
    app.clock.advance_to(app.clock.now() + timedelta(seconds=seconds))
    return await app.delivery.drain()


async def test_a_500_then_success_delivers_once(make_app, db_url, receiver):
    receiver.script = ["500", "500"]
    app = await make_app(db_url, features=hooks(receiver.url))
    await _join(app)
    await app.delivery.drain()
    assert receiver.requests == 1 and receiver.accepted == []
    for _ in range(6):
        await _step(app, 60)
    await _join(app)  # the same join handled again: nothing new is queued
    for _ in range(3):
        await _step(app, 60)
    assert receiver.requests == 3 and receiver.bad_signatures == 0
    assert [e["type"] for e in receiver.accepted] == ["member.joined"]
    assert sum(receiver.ids.values()) == 1
    ev = receiver.accepted[0]
    assert ev["data"]["member"] == {"platform": "slack", "id": "U0ADA", "display_name": "Ada"}
    assert ev["community"] == "Test Garden"
    jsonschema.validate(ev, json.loads((ROOT / "schema" / "webhooks.schema.json").read_text()))
    [row] = [r for r in await app.store.outbox(status="sent") if r.message.platform == "webhook"]
    assert row.message.channel_id == "crm" and row.action == "member.joined"


async def test_a_timeout_is_retried(make_app, sqlite_url, receiver):
    receiver.script = ["hang"]
    app = await make_app(sqlite_url, features=hooks(receiver.url))
    await _join(app)
    t0 = time.monotonic()
    await app.delivery.drain()
    assert time.monotonic() - t0 < 3  # the client gave up waiting at timeout_seconds
    [row] = [r for r in await app.store.outbox(status="pending") if r.message.platform == "webhook"]
    assert "no answer within 0.5s" in row.error
    assert row.not_before > app.clock.now()  # backed off, not hammered
    await _step(app, 10)
    assert [e["type"] for e in receiver.accepted] == ["member.joined"]
    assert receiver.requests == 2


async def test_giving_up_is_recorded_and_shown(make_app, db_url, receiver):
    receiver.script = ["500"] * 100
    app = await make_app(db_url, features=hooks(receiver.url, give_up_after="2m"))
    await _join(app)
    await app.delivery.drain()
    waits = []
    for _ in range(20):
        [row] = [r for r in await app.store.outbox() if r.message.platform == "webhook"]
        if row.status == "failed":
            break
        waits.append((row.not_before - app.clock.now()).total_seconds())
        app.clock.advance_to(row.not_before)
        await app.delivery.drain()
    assert row.status == "failed", row
    assert receiver.accepted == []
    assert waits[0] <= 5 and max(waits) > 2 * waits[0]  # waits grow (about doubling)
    lines = await failure_report(app.store)
    assert any("webhook member.joined to endpoint crm: crm: gave up after 2m: http 500" in ln for ln in lines), lines
    # managers see it in the chat too
    from bot.messaging.markdown import to_plain

    app.settings.managers.slack_user_ids.append("UMGR")
    reply = await app.services.commands.handle(CommandInvoked(platform="slack", at=T0, member_id="UMGR",
                                                              command="failures", channel_id="CMODS"))
    assert "webhook member.joined to endpoint crm: crm: gave up after 2m: http 500" in to_plain(reply.text)


def test_the_readme_example_refuses_forged_and_old_requests():
    verify = readme_verify()
    body = b'{"id":"evt_1","type":"member.joined"}'
    now = int(time.time())

    def sign(t: int, secret: str = SECRET, data: bytes = body) -> str:
        return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + data, hashlib.sha256).hexdigest()

    assert verify(SECRET, sign(now), body)
    assert not verify(SECRET, sign(now, secret="guessed"), body)  # forged
    assert not verify(SECRET, sign(now), body + b" ")  # body changed
    assert not verify(SECRET, sign(now - 3600), body)  # an old request replayed
    header = sign(now - 3600)
    assert not verify(SECRET, header.replace(f"t={now - 3600}", f"t={now}"), body)  # old signature, new time
    assert not verify(SECRET, "", body) and not verify(SECRET, "v1=abc", body)


async def test_forget_sends_member_forgotten(make_app, db_url, receiver):
    app = await make_app(db_url, features=hooks(receiver.url))
    receiver.script = ["500"]
    await _join(app, "U0BAS", "Bas")
    await app.delivery.drain()  # refused: member.joined waits for a retry
    ev = CommandInvoked(platform="slack", at=T0, member_id="UMGR", command="forget", args=("<@U0BAS>",),
                        channel_id="CMODS")
    app.settings.managers.slack_user_ids.append("UMGR")
    reply = await app.services.commands.handle(ev)
    assert reply.text.startswith("Done: that member's personal data is erased")
    for _ in range(3):
        await _step(app, 60)
    assert [e["type"] for e in receiver.accepted] == ["member.forgotten"]  # the join was not sent after
    assert receiver.accepted[0]["data"]["member"] == {"platform": "slack", "id": "U0BAS"}


async def test_opt_out_first_contribution_and_text_left_out(make_app, sqlite_url, receiver):
    from bot.core.events import MessagePosted, ReactionAdded

    app = await make_app(sqlite_url, features=hooks(receiver.url))
    await app.services.commands.handle(CommandInvoked(platform="slack", at=T0, member_id="U0CEM",
                                                      command="optout", args=(), channel_id="CHELP"))
    for i in range(2):
        await app.engine.dispatch(MessagePosted(platform="slack", at=T0 + timedelta(seconds=i), channel_id="CHELP",
                                                message_id=f"17000000.00{i}", author_id="U0DEWI",
                                                text="how do I reset my password?"))
    # Eva reacts (a contributor), then replies in a thread (still one), then starts a conversation in
    # another channel (the reply model links it to no earlier line; in #help, just after her reply,
    # it would continue her own line)
    await app.engine.dispatch(ReactionAdded(platform="slack", at=T0, channel_id="CHELP", message_id="17000000.000",
                                            member_id="U0EVA", emoji="eyes", message_author_id="U0DEWI"))
    await app.engine.dispatch(MessagePosted(platform="slack", at=T0 + timedelta(seconds=5), channel_id="CHELP",
                                            message_id="17000000.005", author_id="U0EVA", text="try the link",
                                            thread_id="17000000.000"))
    await app.engine.dispatch(MessagePosted(platform="slack", at=T0 + timedelta(seconds=9), channel_id="CNEWS",
                                            message_id="17000000.009", author_id="U0EVA", text="Meetup Friday?"))
    await app.delivery.drain()
    types = [e["type"] for e in receiver.accepted]
    assert sorted(types) == ["member.first_contribution", "member.first_contribution", "member.level_changed",
                             "member.level_changed", "member.level_changed", "member.opted_out"]
    first = next(e for e in receiver.accepted if e["type"] == "member.first_contribution")
    assert first["data"]["message_id"] == "17000000.000" and "text" not in first["data"]
    assert "password" not in json.dumps(receiver.accepted)
    levels = [(e["data"]["member"]["id"], e["data"]["from"], e["data"]["to"]) for e in receiver.accepted
              if e["type"] == "member.level_changed"]
    assert levels == [("U0DEWI", "reader", "creator"), ("U0EVA", "reader", "contributor"),
                      ("U0EVA", "contributor", "creator")]


async def test_cli_sends_a_signed_sample_and_prints_the_schema(tmp_path, receiver):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/s.db"\n\n[features.webhooks.endpoints.crm]\n'
                   f'url = "{receiver.url}"\nsecret_env = "CRM_HOOK_SECRET"\nevents = ["member.joined"]\n')
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "webhooks", "test", "crm",
                                                "--config", str(cfg), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "accepted the signed sample" in out.decode()
    assert [e["type"] for e in receiver.accepted] == ["webhook.test"]
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "schema", "webhooks",
                                                stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    out, _ = await proc.communicate()
    assert json.loads(out) == json.loads((ROOT / "schema" / "webhooks.schema.json").read_text()), \
        "run: steward schema webhooks > schema/webhooks.schema.json"


def test_check_reports_a_bad_webhooks_section_with_its_line(tmp_path, monkeypatch):
    from bot.settings import load_settings
    from bot.webhooks.install import check_webhooks

    monkeypatch.delenv("CRM_HOOK_SECRET")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[community]\nname = "x"\n\n[features.webhooks]\ngive_up_after = "soon"\n\n'
                   '[features.webhooks.endpoints.crm]\nurl = "ftp://crm"\nsecret_env = "CRM_HOOK_SECRET"\n'
                   'events = ["member.joined", "member.sneezed"]\n')
    lines = [str(p) for p in check_webhooks(load_settings(cfg))]
    assert lines[0].startswith(f"{cfg}:4: -: [features.webhooks] endpoints.crm.url: Value error, must be an http")
    assert any("endpoints.crm.events: Value error, unknown event type(s) member.sneezed" in ln for ln in lines)
    assert any("give_up_after: Value error, not a duration: 'soon'" in ln for ln in lines)
    cfg.write_text('[features.webhooks.endpoints.crm]\nurl = "https://crm.example.org/h"\n'
                   'secret_env = "CRM_HOOK_SECRET"\nevents = ["*"]\n')
    assert [str(p) for p in check_webhooks(load_settings(cfg))] == [
        f"{cfg}:1: -: warning: [features.webhooks] endpoints.crm: the environment variable CRM_HOOK_SECRET "
        "(its signing secret) is not set"]
