"""Member attributes in: a CRM file is matched to members (by platform ID, by e-mail through the
fake Slack's users.lookupByEmail), reported row by row, and used by a playbook's condition and
template in a DM at the fake Slack; a malformed file writes nothing; a forget removes them."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time

from bot.adapters.slack.emails import email_lookup
from bot.core.events import MemberJoined
from bot.crm.importer import import_file
from bot.privacy import MemberRef, forget_member
from tests.conftest import ROOT, T0

PLAYBOOK = """id: crm_hello
description: A DM for students, in the words their membership calls for
platforms: [slack]
trigger:
  event: member_joined
  filters: {community_only: false}
conditions:
  - not_bot
  - holds: {expr: 'member.attributes.membership == "student"'}
actions:
  - send_dm: {template: crm_hello, automated: false}
"""
TEMPLATES = {
    "en": "Hi {{ member.name }}! As a {{ member.attributes.membership }} in {{ member.attributes.region }}, "
          "you may like: {{ member.attributes.interests | join(', ') }}.",
    "nl": "Hoi {{ member.name }}! Als {{ member.attributes.membership }} in {{ member.attributes.region }} "
          "vind je misschien dit leuk: {{ member.attributes.interests | join(', ') }}.",
}
CSV = """slack_id,email,membership,region,language,interests,start_date,chapter
U100,,student,Utrecht,nl,events;mentoring,2024-09-01,north
,bea@example.org,student,Leiden,en,workshops,2023-01-15,south
U999,,regular,Delft,,,,
U300,,student,Gouda,,,,
U300,,regular,Gouda,,,,
,nobody@example.org,regular,Breda,,,,
U100,cas@example.org,regular,Assen,,,,
"""


def channel_join(user: str, channel: str) -> dict:
    return {"type": "member_joined_channel", "user": user, "channel": channel, "channel_type": "C",
            "event_ts": f"{time.time():.6f}"}


async def test_import_reports_rows_and_a_template_uses_the_attributes(start_bot, fake, tmp_path):
    fake.add_user("U100", "Rosa Jansen")
    fake.add_user("U200", "Bea")["profile"]["email"] = "Bea@example.org"
    fake.add_user("U300", "Dirk")
    fake.add_user("U400", "Cas")["profile"]["email"] = "cas@example.org"
    messages = tmp_path / "messages"
    shutil.copytree(ROOT / "messages", messages)
    for locale, text in TEMPLATES.items():
        (messages / locale / "crm_hello.j2").write_text(text)
    bot = await start_bot("socket", playbooks=(), messages_dir=messages)
    app = bot.app
    (app.engine.playbooks_dir / "crm_hello.yaml").write_text(PLAYBOOK)
    await app.engine.reload()
    assert "crm_hello" in app.engine.playbooks, [str(p) for p in app.engine.problems]

    f = tmp_path / "members.csv"
    f.write_text(CSV)
    report = await import_file(app.store, f, now=T0, email_lookup=email_lookup(app.settings))
    lines = report.lines()
    assert lines[:-1] == [
        f"{f}:2: matched slack:U100",
        f"{f}:3: matched slack:U200",
        f"{f}:4: unmatched: no member with slack_id U999 yet; run the import again after they join",
        f"{f}:5: ambiguous slack:U300: slack:U300 is also on line 6",
        f"{f}:6: ambiguous slack:U300: slack:U300 is also on line 5",
        f"{f}:7: unmatched: no Slack member has this e-mail address",
        f"{f}:8: ambiguous: slack_id U100 and the e-mail address are different members (U400)",
    ], lines
    assert lines[-1] == f"{f}: 2 matched, 2 unmatched, 3 ambiguous; attributes written for 2 member account(s)"
    assert await app.store.member_attributes("slack", "U100") == {
        "membership": "student", "region": "Utrecht", "language": "nl", "interests": ["events", "mentoring"],
        "start_date": "2024-09-01", "chapter": "north"}
    assert await app.store.member_attributes("slack", "U300") == {}  # ambiguous: not written
    assert (await app.store.preferences("slack", "U100")).locale == "nl"  # the CRM's language is theirs

    for uid in ("U100", "U200", "U300"):
        await fake.send_envelope("events_api", {"type": "event_callback", "team_id": fake.team_id,
                                                "event_id": f"Ev{uid}", "event": channel_join(uid, "CHELP")})
    await bot.settle(3)
    await bot.deliver()
    [rosa] = fake.dms_to("U100")
    assert fake.seen(rosa).startswith(
        "Hoi Rosa Jansen! Als student in Utrecht vind je misschien dit leuk: events, mentoring.")
    [bea] = fake.dms_to("U200")
    assert fake.seen(bea).startswith("Hi Bea! As a student in Leiden, you may like: workshops.")
    assert fake.dms_to("U300") == []  # no attributes: the condition does not hold


async def test_a_malformed_file_writes_nothing(make_app, db_url, tmp_path):
    app = await make_app(db_url)
    for uid in ("U100", "U200"):
        await app.engine.dispatch(MemberJoined(platform="slack", at=T0, member_id=uid, display_name=uid))
    bad = tmp_path / "bad.csv"
    bad.write_text("slack_id,membership,language,start_date\n"
                   "U100,student,nl,2024-09-01\n"
                   "U200,regular,english please,2024-13-01\n"
                   ",student,,\n"
                   "U100,student\n")
    report = await import_file(app.store, bad, now=T0)
    assert report.lines() == [
        f"{bad}:3: language: not a language code such as en, nl or pt-BR",
        f"{bad}:3: start_date: not a date as YYYY-MM-DD",
        f"{bad}:4: -: says nobody: give slack_id, discord_id or email",
        f"{bad}:5: -: 2 value(s) where the header has 4",
        f"{bad}: 4 problem(s); nothing was imported",
    ]
    assert await app.store.member_attributes("slack", "U100") == {}  # the good first row was not written
    assert (await app.store.preferences("slack", "U100")).locale is None

    jl = tmp_path / "bad.jsonl"
    jl.write_text('{"slack_id": "U100", "membership": "student"}\n{"slack_id": "U200", "nested": {"a": 1}}\nnot json\n')
    report = await import_file(app.store, jl, now=T0)
    assert [ln.split(": ", 1)[0] for ln in report.lines()[:-1]] == [f"{jl}:2", f"{jl}:3"]
    assert await app.store.member_attributes("slack", "U100") == {}

    good = tmp_path / "good.jsonl"
    good.write_text('{"slack_id": "U100", "membership": "student", "interests": ["Plugins", "knitting"], '
                    '"alumni": true}\n')
    report = await import_file(app.store, good, now=T0, interests=app.services.interests)
    assert report.written == 1
    assert report.lines()[1:3] == [f"{good}: interests chosen for 1 member account(s)",
                                   f"{good}: not among the community's topics (kept as attributes only): knitting"]
    assert await app.store.member_attributes("slack", "U100") == {
        "membership": "student", "interests": ["Plugins", "knitting"], "alumni": True}
    # the CRM's interests that are the community's topics count as the member's own choice
    assert [(i.topic, i.source) for i in await app.services.interests.of("slack", "U100")] == [("plugins", "chosen")]

    # forget removes them
    await forget_member(app.store, MemberRef("slack", "U100"), actor="cli", now=T0)
    assert await app.store.member_attributes("slack", "U100") == {}
    assert "student" not in str(await app.store.attributes.get("slack", "U100"))


async def test_the_cli_refuses_a_bad_file_and_reports_a_good_one(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/s.db"\n')
    bad = tmp_path / "bad.csv"
    bad.write_text("who,membership\nU100,student\n")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "crm", "import", str(bad),
                                                "--config", str(cfg), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, _ = await proc.communicate()
    assert proc.returncode == 1
    assert out.decode().splitlines() == [
        f"{bad}:1: -: no column says who a row is about: slack_id, discord_id or email",
        f"{bad}: 1 problem(s); nothing was imported"]
    good = tmp_path / "good.csv"
    good.write_text("slack_id,email,membership\nU100,,student\n,ada@example.org,student\n")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "crm", "import", str(good),
                                                "--config", str(cfg), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert out.decode().splitlines() == [
        f"{good}:2: unmatched: no member with slack_id U100 yet; run the import again after they join",
        f"{good}:3: unmatched: no platform to look e-mail addresses up on (Slack, with users:read.email)",
        f"{good}: 0 matched, 2 unmatched, 0 ambiguous; attributes written for 0 member account(s)"]
