"""Forget, export and retention pruning, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from bot.commands import commands_for
from bot.core.events import CommandInvoked, MemberJoined, MessagePosted, MessageReported, ReactionAdded
from bot.privacy import export_member, forget_member, parse_member, prune
from bot.storage.models import Base
from tests.conftest import T0


async def _dump(app) -> dict[str, list[str]]:
    """Every row of every table, as text: what a person reading the database would see."""
    await app.store.flush()
    out: dict[str, list[str]] = {}
    async with app.store.database.connect() as conn:
        for t in Base.metadata.sorted_tables:
            rows = (await conn.execute(select(t))).mappings().all()
            out[t.name] = [json.dumps(dict(r), default=str) for r in rows]
    return out


async def _community(app):
    e = app.engine
    await e.dispatch(MemberJoined("slack", T0 - timedelta(days=120), member_id="U100", display_name="Rosa Jansen"))
    await e.dispatch(MemberJoined("slack", T0 - timedelta(days=120), member_id="U200", display_name="Bas"))
    await e.dispatch(MessagePosted("slack", T0 - timedelta(days=100), channel_id="CHELP", message_id="1.0",
                                   author_id="U100", text="I knit socks for my neighbours"))
    await e.dispatch(MessagePosted("slack", T0 - timedelta(days=1), channel_id="CHELP", message_id="2.0",
                                   author_id="U100", text="my cat is called Pannenkoek"))
    await e.dispatch(MessagePosted("slack", T0 - timedelta(days=1), channel_id="CHELP", message_id="3.0",
                                   author_id="U200", text="thanks <@U100>!", mentions=("U100",)))
    await e.dispatch(MessagePosted("slack", T0 - timedelta(days=100), channel_id="CHELP", message_id="4.0",
                                   author_id="U200", text="an old message from Bas"))
    await e.dispatch(ReactionAdded("slack", T0 - timedelta(days=1), channel_id="CHELP", message_id="3.0",
                                   member_id="U100", emoji="heart", message_author_id="U200"))
    await e.dispatch(ReactionAdded("slack", T0 - timedelta(days=1), channel_id="CHELP", message_id="2.0",
                                   member_id="U200", emoji="cat", message_author_id="U100"))
    await app.store.set_preferences("slack", "U100", now=T0, locale="nl")
    await app.store.set_preferences("slack", "U100", now=T0, opted_out=True)
    app.clock.advance_to(T0 + timedelta(hours=1))
    await app.delivery.drain()


async def test_forget_erases_personal_data_and_keeps_counts(make_app, db_url):
    app = await make_app(db_url, managers={"slack_user_ids": ["UMGR"]})
    await _community(app)
    before = await _dump(app)
    assert any("Rosa Jansen" in r for r in before["members"])
    assert any("knit socks" in r for r in before["messages"])
    assert any("U100" in r for r in before["outbox"])

    exported = await export_member(app.store, parse_member("slack:U100"), now=T0)
    text = json.dumps(exported)
    assert "I knit socks for my neighbours" in text and "Rosa Jansen" in text
    # their messages, and the message that mentions them without its text: those words are another's
    assert [r["message_id"] for r in exported["tables"]["messages"]] == ["1.0", "2.0", "3.0"]
    assert "thanks <@U100>" not in text

    cmds = commands_for(app)
    refused = await cmds.handle(CommandInvoked("slack", T0, member_id="U200", command="forget", args=("<@U100>",)))
    assert "for community managers" in refused.text
    reply = await cmds.handle(CommandInvoked("slack", T0, member_id="UMGR", command="forget",
                                             args=("<@U100|rosa>",)))
    assert reply.text.startswith("Done: that member's personal data is erased")

    after = await _dump(app)
    for table, rows in after.items():
        for r in rows:
            assert "Rosa" not in r and "knit" not in r and "Pannenkoek" not in r, (table, r)
            if table not in ("members", "member_preferences"):
                assert "U100" not in r, (table, r)
    # anonymous counts stay: same number of messages and reactions, by a pseudonym now
    assert len(after["messages"]) == len(before["messages"]) == 4
    assert len(after["reactions"]) == len(before["reactions"]) == 2
    assert len(after["playbook_runs"]) == len(before["playbook_runs"])
    # the tombstone and the opt-out keep the real ID and nothing else
    await app.store.flush()  # what the features buffered about them is not written back afterwards
    app.store._members.clear_cache()
    member = await app.store.get_member("slack", "U100")
    assert member is not None and member.display_name == "" and member.locale is None
    assert member.last_active_at is None
    prefs = await app.store.preferences("slack", "U100")
    assert prefs.opted_out is True and prefs.locale is None
    # the other member is untouched
    assert any("an old message from Bas" in r for r in after["messages"])
    assert (await app.store.get_member("slack", "U200")).display_name == "Bas"
    # a rejoin is not a first join: no second welcome to a forgotten member
    sent_before = len(app.outbox.gateways["slack"].sent)
    await app.engine.dispatch(MemberJoined("slack", T0 + timedelta(days=1), member_id="U100", display_name="R"))
    app.clock.advance_to(T0 + timedelta(days=2))
    await app.delivery.drain()
    assert len(app.outbox.gateways["slack"].sent) == sent_before, app.outbox.gateways["slack"].sent[sent_before:]


async def test_a_last_active_time_buffered_before_a_forget_is_not_written_back(make_app, db_url):
    """``steward forget`` runs in its own process: a bot still holding the member's last-active time
    in its write buffer does not put it back on the forgotten member when it flushes."""
    app = await make_app(db_url)
    await _community(app)
    await forget_member(app.store, parse_member("slack:U100"), actor="cli", now=T0)
    await app.store.flush()
    app.store._members.clear_cache()
    assert (await app.store.get_member("slack", "U100")).last_active_at is None
    assert (await app.store.get_member("slack", "U200")).last_active_at is not None


async def test_pruning_erases_text_past_retention_only(make_app, db_url):
    app = await make_app(db_url)
    await _community(app)
    done = await prune(app.store, app.settings.storage.message_text_retention_days, now=T0)
    assert done["messages"] == 2  # the two messages from 100 days ago; retention is 90
    dump = await _dump(app)
    texts = " ".join(dump["messages"])
    assert "knit socks" not in texts and "an old message from Bas" not in texts
    assert "Pannenkoek" in texts and "thanks <@U100>!" in texts
    assert len(dump["messages"]) == 4  # metadata (who, when, where) stays
    # idempotent: nothing left to prune
    assert (await prune(app.store, 90, now=T0))["messages"] == 0


def test_member_references_parse():
    assert parse_member("slack:U0123ABCD").member_id == "U0123ABCD"
    assert parse_member("<@!1122>", "discord").member_id == "1122"
    assert parse_member("<@U77|rosa>", "slack").member_id == "U77"
    try:
        parse_member("U77")
    except Exception as e:
        assert "say which platform" in str(e)
    else:  # pragma: no cover
        raise AssertionError("a bare ID without a platform must be refused")


async def _every_text(app) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text, string and JSON value in the whole database."""
    from sqlalchemy import JSON, String, Text

    await app.store.flush()
    out = []
    async with app.store.database.connect() as conn:
        for t in Base.metadata.sorted_tables:
            cols = [c for c in t.c if isinstance(c.type, String | Text | JSON)]
            if not cols:
                continue
            for row in (await conn.execute(select(*cols))).all():
                for c, v in zip(cols, row, strict=True):
                    if v is not None:
                        out.append((t.name, c.name, v if isinstance(v, str) else json.dumps(v)))
    return out


async def test_after_forget_no_table_holds_their_id_name_or_words_and_nothing_brings_them_back(make_app, db_url):
    app = await make_app(db_url, managers={"slack_user_ids": ["UMGR"]})
    e = app.engine
    at = T0 - timedelta(hours=2)
    await e.dispatch(MemberJoined("slack", at, member_id="UVICTIM", display_name="Vera Vintervogel"))
    await e.dispatch(MemberJoined("slack", at, member_id="U200", display_name="Bas"))
    # a question of theirs, still in the question tracker's memory
    await e.dispatch(MessagePosted("slack", at + timedelta(minutes=1), channel_id="CHELP", message_id="10.0",
                                   author_id="UVICTIM", text="How do I reset my frobnicator password?"))
    # a moderation case about them (its incident_key holds their ID), and one they reported
    await e.dispatch(MessagePosted("slack", at + timedelta(minutes=2), channel_id="CGEN", message_id="11.0",
                                   author_id="UVICTIM", text="just k1ll y0urself zeppelinwords"))
    await e.dispatch(MessagePosted("slack", at + timedelta(minutes=3), channel_id="CGEN", message_id="12.0",
                                   author_id="U200", text="hey <@UVICTIM>, Vera Vintervogel, be nice", mentions=("UVICTIM",)))
    await e.dispatch(MessageReported("slack", at + timedelta(minutes=4), reporter_id="UVICTIM", channel_id="CGEN",
                                     message_id="12.0", author_id="U200", text="hey <@UVICTIM>, be nice",
                                     reason="Vera feels got at"))
    app.clock.advance_to(T0)
    await app.delivery.drain()
    before = await _every_text(app)
    assert any("incident_key" == c and "UVICTIM" in v for _, c, v in before)

    reply = await commands_for(app).handle(CommandInvoked("slack", T0, member_id="UMGR", command="forget",
                                                          args=("<@UVICTIM>",)))
    assert reply.text.startswith("Done: that member's personal data is erased")
    # later: Bas answers their question in its thread, and the tracker's memory is written out
    await e.dispatch(MessagePosted("slack", T0 + timedelta(minutes=1), channel_id="CHELP", message_id="13.0",
                                   author_id="U200", text="hold the reset button for ten seconds", thread_id="10.0"))
    app.clock.advance_to(T0 + timedelta(hours=1))
    await app.delivery.drain()

    leaks = []
    for table, col, v in await _every_text(app):
        words = ("Vintervogel", "frobnicator", "zeppelinwords", "got at")
        if any(w in v for w in words) or ("UVICTIM" in v and table not in ("members", "member_preferences")):
            leaks.append((table, col, v[:120]))
    assert leaks == []
    # the tombstone keeps the ID and nothing else
    async with app.store.database.connect() as conn:
        members = Base.metadata.tables["members"]
        row = (await conn.execute(select(members).where(members.c.member_id == "UVICTIM"))).mappings().one()
    assert row["forgotten"] and not row["display_name"]
    # and Bas's help stays counted, under a pseudonym for the asker
    helps = Base.metadata.tables["helps"]
    async with app.store.database.connect() as conn:
        rows = (await conn.execute(select(helps.c.helper_id, helps.c.member_id))).all()
    assert all(r.member_id != "UVICTIM" for r in rows)


async def test_forget_clears_what_services_hold_in_memory(make_app):
    from bot.moderation.windows import state

    app = await make_app(managers={"slack_user_ids": ["UMGR"]})
    e = app.engine
    await e.dispatch(MemberJoined("slack", T0, member_id="UVICTIM", display_name="Vera Vintervogel"))
    await e.dispatch(MessagePosted("slack", T0, channel_id="CHELP", message_id="10.0", author_id="UVICTIM",
                                   text="How do I reset my frobnicator password?"))
    questions = e.services.questions
    windows = questions.tracker.links.reader.windows
    assert any(s.author == "UVICTIM" for w in windows.values() for s in w.lines)
    assert ("slack", "UVICTIM") in state(e).windows
    await commands_for(app).handle(CommandInvoked("slack", T0, member_id="UMGR", command="forget",
                                                  args=("<@UVICTIM>",)))
    held = [s for w in windows.values() for s in w.lines if s.author == "UVICTIM"]
    held += [a for w in windows.values() for a in w.prev_of_author if a == "UVICTIM"]
    held += [k for w in windows.values() for k in w.pairs.last if "UVICTIM" in k]
    held += [q for q in questions.tracker.tracked.values() if q.author_id == "UVICTIM"]
    held += [q for qs in questions.tracker.links.open.values() for q in qs.values() if q.author_id == "UVICTIM"]
    held += [n for names in questions.tracker.links.reader.names.values() for n, m in names.items()
             if m == "UVICTIM"]
    assert held == []
    assert ("slack", "UVICTIM") not in questions._active
    rules = state(e)
    assert ("slack", "UVICTIM") not in rules.windows
    assert all("UVICTIM" not in d for d in rules.spoke.values())
