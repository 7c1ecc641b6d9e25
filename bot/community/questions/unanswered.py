"""The ``unanswered_questions`` scan and the ``escalate_question`` action: open questions past a
waiting time, with members who answered similar ones before, and the tier they have reached."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Integer, bindparam, select

from bot.community.questions.detect import keywords
from bot.community.questions.service import HELPS, MT, QT, REPLY
from bot.community.questions.settings import question_settings
from bot.core.clock import as_utc
from bot.engine.context import RunContext, Subject
from bot.engine.registry import action, scan
from bot.storage.repositories import Store


class UnansweredParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    older_than: str = Field("30m", description="only questions waiting at least this long, e.g. 30m, 4h")
    newer_than: str = Field("7d", description="... and asked within this long (older ones are stale)")
    below_tier: int = Field(1, ge=1, le=9, description="questions not yet escalated to this tier")
    channels: list[str] = Field(default_factory=list, description="only these channels (config names or IDs)")
    digest: bool = Field(False, description="one subject listing every question (for a moderators' digest)")
    suggest_helpers: int = Field(2, ge=0, le=5, description="members who answered similar questions before")
    limit: int = Field(25, ge=1, le=200)


async def channel_names(store: Store, platform: str, settings: Any = None) -> dict[str, str]:
    """Channel ID → name, from the platform (stored channels) or else the config's [channels]."""
    names = {ids[platform]: name for name, ids in (getattr(settings, "channels", None) or {}).items()
             if platform in ids}
    names.update({c.channel_id: c.name for c in await store.channels(platform) if c.name})
    return names


def question_view(platform: str, r: Any, names: dict[str, str], members: dict[str, str], now: datetime
                  ) -> dict[str, Any]:
    from bot.messaging.templates import ago

    asked = as_utc(r.asked_at)
    return {"id": r.message_id, "key": f"{r.channel_id}/{r.message_id}",
            "channel": {"id": r.channel_id, "name": names.get(r.channel_id, r.channel_id)},
            "author": {"id": r.author_id, "name": members.get(r.author_id) or r.author_id},
            "text": r.text or "", "asked_at": asked, "age": ago(asked, now), "url": ""}


def _open_questions_query(channels: bool) -> Any:
    """The statement of ``open_questions``, built once (a scan runs it every tick)."""
    from bot.storage.models import MessageRow

    msg = MessageRow.__table__
    q = (select(QT.c.channel_id, QT.c.message_id, QT.c.author_id, QT.c.asked_at, QT.c.tier, msg.c.text,
                MT.c.display_name)
         .select_from(QT.outerjoin(msg, (msg.c.platform == QT.c.platform) & (msg.c.channel_id == QT.c.channel_id)
                                   & (msg.c.message_id == QT.c.message_id))
                      .outerjoin(MT, (MT.c.platform == QT.c.platform) & (MT.c.member_id == QT.c.author_id)))
         .where(QT.c.platform == bindparam("o_p", type_=QT.c.platform.type), QT.c.status == "open",
                QT.c.tier < bindparam("o_tier", type_=QT.c.tier.type),
                QT.c.asked_at <= bindparam("o_old", type_=QT.c.asked_at.type),
                QT.c.asked_at >= bindparam("o_new", type_=QT.c.asked_at.type))
         .order_by(QT.c.asked_at).limit(bindparam("o_limit", type_=Integer())))
    if channels:
        q = q.where(QT.c.channel_id.in_(bindparam("o_chans", expanding=True, type_=QT.c.channel_id.type)))
    return q


_OPEN_QUESTIONS = {False: _open_questions_query(False), True: _open_questions_query(True)}


async def open_questions(store: Store, platform: str, *, older_than: datetime, newer_than: datetime,
                         below_tier: int = 9, channel_ids: set[str] | None = None, limit: int = 25) -> list[Any]:
    """Open questions asked in [newer_than, older_than], oldest first (ix_questions_open)."""
    params: dict[str, Any] = {"o_p": platform, "o_tier": below_tier, "o_old": older_than, "o_new": newer_than,
                              "o_limit": limit}
    if channel_ids:
        params["o_chans"] = sorted(channel_ids)
    async with store.database.connect() as conn:
        return list((await conn.execute(_OPEN_QUESTIONS[bool(channel_ids)], params)).all())


async def similar_helpers(store: Store, platform: str, channel_id: str, text: str, *, asker: str,
                          since: datetime, n: int) -> list[dict[str, str]]:
    """Members who answered questions sharing words with this one in the channel (most alike first);
    opted-out members and bots are left out, since a mention is a message too."""
    from bot.storage.models import MessageRow, PreferenceRow

    if n <= 0:
        return []
    msg, prefs = MessageRow.__table__, PreferenceRow.__table__
    q = (select(HELPS.c.helper_id, msg.c.text)
         .select_from(HELPS.outerjoin(msg, (msg.c.platform == HELPS.c.platform)
                                      & (msg.c.channel_id == HELPS.c.channel_id)
                                      & (msg.c.message_id == HELPS.c.question_id)))
         .where(HELPS.c.platform == platform, HELPS.c.channel_id == channel_id, HELPS.c.at >= since,
                HELPS.c.evidence.not_like(REPLY + "%"))
         .order_by(HELPS.c.at.desc()).limit(500))
    async with store.database.connect() as conn:
        rows = (await conn.execute(q)).all()
        want = keywords(text)
        score: dict[str, float] = {}
        for r in rows:
            if r.helper_id == asker:
                continue
            overlap = len(want & keywords(r.text))
            score[r.helper_id] = score.get(r.helper_id, 0.0) + overlap + 0.01
        ranked = sorted(score, key=lambda h: -score[h])
        if not ranked:
            return []
        info = (await conn.execute(select(MT.c.member_id, MT.c.display_name, MT.c.is_bot).where(
            MT.c.platform == platform, MT.c.member_id.in_(ranked[:50])))).all()
        out_opt = {r.member_id for r in (await conn.execute(select(prefs.c.member_id).where(
            prefs.c.platform == platform, prefs.c.member_id.in_(ranked[:50]), prefs.c.opted_out.is_(True)))).all()}
    names = {r.member_id: (r.display_name or r.member_id) for r in info if not r.is_bot}
    return [{"id": h, "name": names[h]} for h in ranked if h in names and h not in out_opt][:n]


@scan("unanswered_questions", UnansweredParams)
async def unanswered_questions(ctx: RunContext, p: UnansweredParams) -> list[Subject]:
    """Open questions past a waiting time, with members who answered similar ones before."""
    from bot.engine.durations import parse_duration

    store, plat, now = ctx.engine.store, ctx.platform, ctx.now
    svc = ctx.engine.services.questions
    if svc is not None:
        latest = await svc.latest_asked(plat)
        if latest is None or latest < now - parse_duration(p.newer_than):
            return []  # nothing asked recently enough: no query
        quiet_key = (plat, p.older_than, p.newer_than, p.below_tier, tuple(p.channels), p.limit, p.digest)
        hint = svc.quiet_until.get(quiet_key)
        if hint is not None and hint[0] == svc.version and now < hint[1]:
            return []  # nothing changed and nothing has come due since the last empty answer
        await store.flush()
    resolve = getattr(ctx.engine.settings, "channel_id", None)
    ids = {(resolve(c, plat) if callable(resolve) else None) or c for c in p.channels}
    rows = await open_questions(store, plat, older_than=now - parse_duration(p.older_than),
                                newer_than=now - parse_duration(p.newer_than), below_tier=p.below_tier,
                                channel_ids=ids or None, limit=p.limit)
    if not rows:
        if svc is not None:
            wait = parse_duration(p.older_than)
            until = svc.quiet_hint(plat, now - wait, wait)
            if until is not None:
                svc.quiet_until[quiet_key] = (svc.version, until)
        return []
    names = await channel_names(store, plat, ctx.engine.settings)
    qs_settings = question_settings(ctx.engine.settings)
    views = []
    for r in rows:
        v = question_view(plat, r, names, {r.author_id: r.display_name}, now)
        v["helpers"] = await similar_helpers(store, plat, r.channel_id, r.text or "", asker=r.author_id,
                                             since=now - timedelta(days=qs_settings.similar_days),
                                             n=p.suggest_helpers)
        views.append(v)
    if p.digest:
        return [Subject(plat, "unanswered-digest", vars={"questions": views, "tier": p.below_tier},
                        reason=f"{len(views)} question(s) still unanswered")]
    return [Subject(plat, f"q:{v['key']}", member_id=v["author"]["id"], channel_id=v["channel"]["id"],
                    message_id=v["id"], vars={"question": v, "helpers": v["helpers"], "tier": p.below_tier},
                    reason=f"question unanswered for {v['age']}")
            for v in views]


class EscalateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: int = Field(ge=1, le=9, description="the tier these questions have now reached")


@action("escalate_question", EscalateParams)
async def escalate_question(ctx: RunContext, p: EscalateParams) -> None:
    """Record that the subject's question(s) reached this tier, so the next tier takes over later."""
    if ctx.preview:
        return  # a preview changes nothing
    svc = ctx.engine.services.questions
    if svc is None:
        return
    qs = ctx.subject.vars.get("questions") or [ctx.subject.vars.get("question")]
    keys = [(q["channel"]["id"], q["id"]) for q in qs if q]
    await svc.set_tier(ctx.platform, keys, p.tier)
