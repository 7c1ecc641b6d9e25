"""Creators and replies come from the reply-link model's decision (``messages.linked_to``), not from
whether a message mentions someone: in a flat channel a member who answers without a mention is a
contributor, one who starts a conversation without a mention is a creator. Real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from bot.community.health import compute_health, member_engagement
from bot.core.events import MemberJoined, MessagePosted
from bot.storage import db
from bot.storage.models import MessageRow
from tests.conftest import T0

MSG = MessageRow.__table__
CH = "CGENERAL"


async def _flat_channel(app, more: tuple[tuple[int, str], ...] = ()) -> None:
    """Ana asks, Ben answers within the minute without a mention (``more``: his further lines); the
    next day Cas starts a conversation of her own, no mention either; Dan only joins."""
    for i, mid in enumerate(("UANA", "UBEN", "UCAS", "UDAN")):
        await app.engine.dispatch(MemberJoined("slack", T0 + timedelta(minutes=i), member_id=mid, display_name=mid))
    day = T0 + timedelta(days=40)
    posts = [("UANA", 0, "how do I reset my password? I can't log in"),
             ("UBEN", 45, "there is a reset password link on the login page"),
             *(("UBEN", sec, text) for sec, text in more),
             ("UCAS", 86_400, "anyone going to the meetup on friday")]
    for n, (who, sec, text) in enumerate(posts):
        await app.engine.dispatch(MessagePosted("slack", day + timedelta(seconds=sec), channel_id=CH,
                                                message_id=f"{n + 1}.0", author_id=who, text=text))


async def _links(app) -> dict[str, str | None]:
    await app.store.flush()
    async with app.store.database.connect() as conn:
        return {r.author_id: r.linked_to for r in (await conn.execute(select(MSG.c.author_id, MSG.c.linked_to)))}


@pytest.mark.parametrize("batch_size", [None, 1], ids=["buffered", "written-before-the-decision"])
async def test_a_member_who_answers_without_a_mention_is_a_contributor(db_url, make_app, batch_size):
    app = await make_app(db_url, dry_run=True)
    if batch_size:
        # every message row is written (taken from the buffer) before the reply model has decided:
        # its link arrives as an UPDATE with the next batch
        app.store.batch_size = batch_size
    await _flat_channel(app)
    assert await _links(app) == {"UANA": "", "UBEN": "UANA", "UCAS": ""}

    h = await compute_health(app.store, platform="slack", end=T0 + timedelta(days=60))
    assert h["participation"] == {"creators": 2, "contributors": 1, "readers": 1, "creators_pct": 50.0,
                                  "contributors_pct": 25.0, "readers_pct": 25.0}
    members = {m["member_id"]: m for m in await member_engagement(app.store, platform="slack",
                                                                  now=T0 + timedelta(days=60))}
    assert {k: (m["level"], m["replies_given"]) for k, m in members.items()} == {
        "UANA": ("creator", 0), "UBEN": ("contributor", 1), "UCAS": ("creator", 0), "UDAN": ("reader", 0)}
    since = T0 + timedelta(days=39)
    assert await app.store.belonging.activity("slack", "UBEN", since) == {"posted", "replied"}
    assert await app.store.belonging.activity("slack", "UCAS", since) == {"posted"}


async def test_a_second_line_of_ones_own_answer_is_no_new_conversation(db_url, make_app):
    app = await make_app(db_url, dry_run=True)
    await _flat_channel(app, more=((60, "the password link is under account settings too"),))
    await app.store.flush()
    async with app.store.database.connect() as conn:
        linked = (await conn.execute(select(MSG.c.linked_to).where(MSG.c.message_id == "3.0"))).scalar()
    assert linked in ("UBEN", "UANA")  # his own line, or Ana's question: a reply either way
    h = await compute_health(app.store, platform="slack", end=T0 + timedelta(days=60))
    assert h["participation"]["creators"] == 2 and h["participation"]["contributors"] == 1


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("empty_pg_url")


async def test_the_migration_backfills_old_rows_from_the_rule_before(fresh_url, make_app):
    """Rows stored before the model's decision was kept: '' where nothing marks a reply, '*' (someone)
    where the message mentions someone or replies, bots left undecided; the figures stay as they were."""
    eng = db.create_engine(fresh_url)
    try:
        await db.upgrade(eng, "0015")
        at = T0 + timedelta(days=1)
        rows = [("1.0", "UANA", None, None, None, False), ("2.0", "UBEN", None, None, "UANA", False),
                ("3.0", "UCAS", "1.0", None, None, False), ("4.0", "UDAN", None, "1.0", None, False),
                ("5.0", "UBOT", None, None, None, True)]
        async with eng.begin() as conn:
            await conn.execute(insert(MSG), [
                {"platform": "slack", "channel_id": CH, "message_id": mid, "author_id": who, "text": "hi",
                 "posted_at": at + timedelta(minutes=i), "thread_id": thread, "reply_to": reply,
                 "mentions": mentions, "is_bot": bot, "is_question": False, "deleted": False}
                for i, (mid, who, thread, reply, mentions, bot) in enumerate(rows)])
        await db.upgrade(eng)
        async with eng.connect() as conn:
            got = dict((await conn.execute(select(MSG.c.message_id, MSG.c.linked_to))).all())
    finally:
        await eng.dispose()
    assert got == {"1.0": "", "2.0": "*", "3.0": "*", "4.0": "*", "5.0": None}

    app = await make_app(fresh_url, dry_run=True)
    for mid in ("UANA", "UBEN", "UCAS", "UDAN"):
        await app.engine.dispatch(MemberJoined("slack", T0, member_id=mid, display_name=mid))
    await app.engine.dispatch(MemberJoined("slack", T0, member_id="UBOT", is_bot=True))
    h = await compute_health(app.store, platform="slack", end=T0 + timedelta(days=60))
    assert h["participation"]["creators"] == 1 and h["participation"]["contributors"] == 3
    members = {m["member_id"]: m for m in await member_engagement(app.store, platform="slack",
                                                                  now=T0 + timedelta(days=60))}
    assert {k: m["replies_given"] for k, m in members.items()} == {"UANA": 0, "UBEN": 1, "UCAS": 1, "UDAN": 1}


async def test_a_forum_post_starts_a_conversation_and_an_answer_in_it_replies(db_url, make_app):
    """A Discord forum post's opening message (``thread_id == message_id``) starts a conversation, even
    when it addresses someone who just answered in another post of the same forum; an answer inside a
    post replies to it. Health, the CRM levels and belonging read it alike."""
    app = await make_app(db_url, dry_run=True)
    for i, mid in enumerate(("100", "200", "300")):
        await app.engine.dispatch(MemberJoined("discord", T0 + timedelta(minutes=i), member_id=mid,
                                               display_name=f"member{mid}"))
    day = T0 + timedelta(days=40)
    posts = [("100", 0, "7001", "forum", "How do I get the exporter to run on a Pi?", ()),
             ("200", 30, "7002", None, "use the arm64 build, it is on the releases page", ()),
             ("300", 60, "7003", "forum", "<@200> following your tip: how do I make it start at boot?", ("200",))]
    for who, sec, mid, kind, text, mentions in posts:
        await app.engine.dispatch(MessagePosted(
            "discord", day + timedelta(seconds=sec), channel_id="FORUM", message_id=mid, author_id=who,
            text=text, thread_id="7001" if mid == "7002" else mid, kind=kind, mentions=mentions))
    assert await _links(app) == {"100": "", "200": "100", "300": ""}

    h = await compute_health(app.store, platform="discord", end=T0 + timedelta(days=60))
    assert (h["participation"]["creators"], h["participation"]["contributors"]) == (2, 1)
    members = {m["member_id"]: m for m in await member_engagement(app.store, platform="discord",
                                                                  now=T0 + timedelta(days=60))}
    assert {k: (m["level"], m["replies_given"]) for k, m in members.items()} == {
        "100": ("creator", 0), "200": ("contributor", 1), "300": ("creator", 0)}
    since = T0 + timedelta(days=39)
    assert await app.store.belonging.activity("discord", "200", since) == {"posted", "replied"}
    assert await app.store.belonging.activity("discord", "300", since) == {"posted"}
