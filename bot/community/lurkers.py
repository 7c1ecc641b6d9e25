"""Lurkers: members who joined a while ago and have not posted for a long time (or ever). A nudge
points to something real and recent that fits them: an open question in a channel they joined,
preferably in their language. When nothing fits, there is no nudge: never a generic "come back!".

The scan walks two partial indexes, ``ix_members_lapsed`` (members with a join date, by last activity)
and ``ix_members_never`` (members who never posted, by join date), and stops at ``limit``; members
already nudged, opted out, staff, bots and members with an open moderation case are left out in the
same query, so a large community costs no more than a small one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Integer, and_, bindparam, exists, not_, or_, select

from bot.community.questions import QT, channel_names, question_settings
from bot.core.clock import as_utc, iso
from bot.engine.context import RunContext, Subject
from bot.engine.registry import action, scan
from bot.storage.models import (
    ChannelMemberRow,
    MemberRow,
    MessageRow,
    ModerationCaseRow,
    PlaybookRunRow,
    PreferenceRow,
)
from bot.storage.repositories import Store

MT = MemberRow.__table__
CM = ChannelMemberRow.__table__
MSG = MessageRow.__table__
CASES = ModerationCaseRow.__table__
RUNS = PlaybookRunRow.__table__
PREFS = PreferenceRow.__table__

_DUTCH = {"de", "het", "een", "en", "ik", "je", "niet", "hoe", "wat", "waarom", "kan", "iemand", "weet", "voor",
          "met", "ook", "mijn", "dat", "dit", "zijn", "wordt", "bij", "naar", "van", "heb", "graag"}


def language_of(text: str) -> str:
    """"nl" or "en": enough for "a thread in their language" between the two shipped locales."""
    words = [w.strip(".,!?:;()\"'").lower() for w in (text or "").split()]
    if not words:
        return "en"
    nl = sum(w in _DUTCH for w in words)
    return "nl" if nl / len(words) >= 0.2 else "en"


class LurkerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    joined_days: float = Field(14, ge=0, description="joined at least this many days ago")
    silent_days: float = Field(30, ge=0, description="and has not posted for this many days (or never)")
    recent_days: float = Field(14, gt=0, description="what we point to was asked within this many days")
    limit: int = Field(20, ge=1, le=500, description="members per run (the outreach budget is small anyway)")


def lurker_conditions(platform: str, *, now: datetime, joined_days: float, silent_days: float,
                      playbook_id: str | None, silence: Any = None) -> list[Any]:
    """WHERE clauses shared by the scan and the backtest findings. ``silence`` replaces "not active
    since ``silent_days``" with a narrower clause that implies it (the scan's two index walks)."""
    return _conditions(platform, now - timedelta(days=silent_days), now - timedelta(days=joined_days),
                       playbook_id or None, silence)


def _conditions(platform: Any, silent_since: Any, joined_before: Any, playbook_id: Any, silence: Any) -> list[Any]:
    """``lurker_conditions`` from values or bound parameters (``playbook_id`` None: any playbook)."""
    conds: list[Any] = [
        MT.c.platform == platform,
        or_(MT.c.last_active_at.is_(None), MT.c.last_active_at < silent_since) if silence is None else silence,
        MT.c.joined_at <= joined_before,
        MT.c.is_bot.is_(False), MT.c.is_staff.is_(False), MT.c.left_at.is_(None),
        MT.c.forgotten.is_(False),
        not_(exists().where(CASES.c.platform == platform, CASES.c.member_id == MT.c.member_id,
                            CASES.c.status == "open")),
        not_(exists().where(PREFS.c.platform == platform, PREFS.c.member_id == MT.c.member_id,
                            PREFS.c.opted_out.is_(True))),
    ]
    if playbook_id is not None:
        conds.append(not_(exists().where(RUNS.c.playbook_id == playbook_id, RUNS.c.platform == platform,
                                         RUNS.c.subject == MT.c.member_id)))
    return conds


async def find_lurkers(store: Store, platform: str, *, now: datetime, joined_days: float, silent_days: float,
                       limit: int, playbook_id: str | None = None) -> list[Any]:
    """Lapsed members (most recently active first), then members who never posted. Each is one walk
    down a partial index (``ix_members_lapsed``, ``ix_members_never``) that stops at ``limit``."""
    lapsed, never = _LURKER_QUERIES[bool(playbook_id)]
    params: dict[str, Any] = {"l_p": platform, "l_silent": now - timedelta(days=silent_days),
                              "l_joined": now - timedelta(days=joined_days), "l_limit": limit}
    if playbook_id:
        params["l_pb"] = playbook_id
    async with store.database.connect() as conn:
        rows = list((await conn.execute(lapsed, params)).all())
        if len(rows) < limit:
            rows += list((await conn.execute(never, params)).all())[: limit - len(rows)]
    return rows


def _lurker_queries(by_playbook: bool) -> tuple[Any, Any]:
    """The two statements of ``find_lurkers``, built once (the scan runs them every tick)."""
    p = bindparam("l_p", type_=MT.c.platform.type)
    silent = bindparam("l_silent", type_=MT.c.last_active_at.type)
    joined = bindparam("l_joined", type_=MT.c.joined_at.type)
    pb = bindparam("l_pb", type_=RUNS.c.playbook_id.type) if by_playbook else None
    limit = bindparam("l_limit", type_=Integer())
    cols = (MT.c.member_id, MT.c.display_name, MT.c.locale, MT.c.joined_at, MT.c.last_active_at)
    lapsed = (select(*cols).where(*_conditions(p, silent, joined, pb, MT.c.last_active_at < silent))
              .order_by(MT.c.last_active_at.desc()).limit(limit))
    never = (select(*cols).where(*_conditions(p, silent, joined, pb, MT.c.last_active_at.is_(None)))
             .order_by(MT.c.joined_at.desc()).limit(limit))
    return lapsed, never


_LURKER_QUERIES = {False: _lurker_queries(False), True: _lurker_queries(True)}


#: ``suggestions_for``'s statements, built once (the scan runs them every tick)
_RECENT_QUESTIONS = (
    select(QT.c.channel_id, QT.c.message_id, QT.c.author_id, QT.c.asked_at, MSG.c.text)
    .select_from(QT.outerjoin(MSG, and_(MSG.c.platform == QT.c.platform, MSG.c.channel_id == QT.c.channel_id,
                                        MSG.c.message_id == QT.c.message_id)))
    .where(QT.c.platform == bindparam("s_p", type_=QT.c.platform.type), QT.c.status == "open", QT.c.tier < 9,
           QT.c.asked_at >= bindparam("s_since", type_=QT.c.asked_at.type),
           QT.c.asked_at <= bindparam("s_now", type_=QT.c.asked_at.type))
    .order_by(QT.c.asked_at.desc()).limit(200))
_JOINED_CHANNELS = select(CM.c.member_id, CM.c.channel_id).where(
    CM.c.platform == bindparam("s_p", type_=CM.c.platform.type),
    CM.c.member_id.in_(bindparam("s_ids", expanding=True, type_=CM.c.member_id.type)), CM.c.left_at.is_(None))


async def suggestions_for(store: Store, platform: str, members: list[Any], *, now: datetime, recent_days: float,
                          help_ids: set[str], settings: Any = None,
                          interests: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """For each member, one open question asked recently in a channel they joined (help channels for
    members whose channels we do not know): one in their interests first (``interests``: member ->
    ``fits(channel_id, text)``), then one in their language."""
    if not members:
        return {}
    ids = [m.member_id for m in members]
    async with store.database.connect() as conn:
        recent = (await conn.execute(_RECENT_QUESTIONS, {"s_p": platform, "s_since": now - timedelta(days=recent_days),
                                                         "s_now": now})).all()
        if not recent:
            return {}
        joined: dict[str, set[str]] = {}
        for r in (await conn.execute(_JOINED_CHANNELS, {"s_p": platform, "s_ids": ids})).all():
            joined.setdefault(r.member_id, set()).add(r.channel_id)
    names = await channel_names(store, platform, settings)
    langs: dict[int, str] = {}  # each question's language, worked out once for every member

    def lang_of(i: int) -> str:
        got = langs.get(i)
        if got is None:
            got = langs[i] = language_of(recent[i].text)
        return got

    out: dict[str, dict[str, Any]] = {}
    for m in members:
        where = joined.get(m.member_id) or help_ids
        lang = (m.locale or "en").split("-")[0]
        fits = [i for i, r in enumerate(recent) if r.channel_id in where and r.author_id != m.member_id and r.text]
        if not fits:
            continue
        fit = (interests or {}).get(m.member_id)
        if fit is not None:  # a question in their interests first, then in their language
            fits.sort(key=lambda i: (not fit(recent[i].channel_id, recent[i].text), lang_of(i) != lang))
        r = recent[next((i for i in fits if lang_of(i) == lang), fits[0])] if fit is None else recent[fits[0]]
        from bot.messaging.templates import ago

        out[m.member_id] = {"id": r.message_id, "key": f"{r.channel_id}/{r.message_id}",
                            "channel": {"id": r.channel_id, "name": names.get(r.channel_id, r.channel_id)},
                            "author": {"id": r.author_id, "name": r.author_id}, "text": r.text,
                            "asked_at": as_utc(r.asked_at), "age": ago(as_utc(r.asked_at), now), "url": ""}
    return out


def help_channel_ids(settings: Any, platform: str) -> set[str]:
    qs = question_settings(settings)
    resolve = getattr(settings, "channel_id", None)
    out = set()
    for name in qs.help_channels:
        cid = resolve(name, platform) if callable(resolve) else None
        out.add(cid or name)
    return out


@scan("lurkers", LurkerParams)
async def lurkers(ctx: RunContext, p: LurkerParams) -> list[Subject]:
    """Quiet members with something real and recent to point them to."""
    await ctx.engine.store.flush()
    store, plat, now = ctx.engine.store, ctx.platform, ctx.now
    rows = await find_lurkers(store, plat, now=now, joined_days=p.joined_days, silent_days=p.silent_days,
                              limit=p.limit, playbook_id=ctx.playbook.id)
    ids = help_channel_ids(ctx.engine.settings, plat)
    svc = ctx.engine.services.interests
    fits = None
    if svc is not None and svc.topics.topics and rows:
        got = await svc.infer(plat, [m.member_id for m in rows])
        fits = {mid: svc.matcher(plat, its) for mid, its in got.items()}
    sugg = await suggestions_for(store, plat, rows, now=now, recent_days=p.recent_days, help_ids=ids,
                                 settings=ctx.engine.settings, interests=fits)
    out = []
    for m in rows:
        s = sugg.get(m.member_id)
        if s is None:
            continue  # nothing real to point to: no nudge
        silent = "never posted" if m.last_active_at is None else \
            f"quiet for {(now - as_utc(m.last_active_at)).days} days"
        out.append(Subject(plat, m.member_id, member_id=m.member_id, channel_id=s["channel"]["id"],
                           message_id=s["id"], vars={"suggestion": s, "suggestions": [s]},
                           reason=f"joined {(now - as_utc(m.joined_at)).days} days ago, {silent}"))
    return out


async def lurker_findings(app, platform: str) -> list[dict[str, Any]]:
    """Backtest findings: every member who counts as a lurker at the end of the replay."""
    await app.store.flush()
    pb = app.engine.playbooks.get("lurkers")
    params = pb.scan.params if pb is not None and pb.scan is not None else LurkerParams()
    now = app.clock.now()
    conds = lurker_conditions(platform, now=now, joined_days=params.joined_days, silent_days=params.silent_days,
                              playbook_id=None)
    async with app.store.database.connect() as conn:
        rows = (await conn.execute(select(MT.c.member_id, MT.c.joined_at, MT.c.last_active_at).where(*conds)
                                   .order_by(MT.c.member_id))).all()
    return [{"kind": "lurker", "member": r.member_id, "joined_at": iso(r.joined_at),
             "last_active_at": iso(r.last_active_at)} for r in rows]


class SendNudge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(description="the personal DM")
    channel_template: str = Field(description="the mention in a channel, where DMs are off (Discord's default)")

    def check(self, ctx) -> list[str]:
        out = []
        for t in (self.template, self.channel_template):
            if not ctx.template_exists(t):
                out.append(f"template {t!r} does not exist")
            elif err := ctx.render_sample(t):
                out.append(f"template {t!r} does not render: {err}")
        return out


def nudges_by_dm(settings: Any, platform: str) -> bool:
    """Discord's developer policy frowns on unsolicited DMs: there a nudge is a channel mention unless
    the admin turned ``[discord] lurker_dms`` on."""
    if platform == "discord":
        return bool(getattr(getattr(settings, "discord", None), "lurker_dms", False))
    return True


@action("send_nudge", SendNudge)
async def send_nudge(ctx: RunContext, p: SendNudge) -> None:
    """Nudge the subject member: a DM (ending with how to stop them), or a mention in the channel of
    the thing it points to where DMs are off."""
    from bot.core.records import OutboundMessage
    from bot.engine.actions import dedupe_key, render, template_context

    if not ctx.subject.member_id:
        return
    outbox = ctx.outbox
    reason = ctx.subject.reason or ctx.playbook.spec.description
    if nudges_by_dm(ctx.engine.settings, ctx.platform):
        text, locale = await render(ctx, p.template)
        if ctx.engine.templates.exists("stop_hint"):
            context, _ = await template_context(ctx)
            text += "\n\n" + ctx.engine.templates.render("stop_hint", context, locale)
        dm = OutboundMessage(platform=ctx.platform, kind="dm", text=text, member_id=ctx.subject.member_id,
                             dedupe_key=dedupe_key(ctx))
        await outbox.submit(dm, playbook_id=ctx.playbook.id, action="send_nudge", reason=reason, automated=True,
                            outreach=True)
        return
    text, _ = await render(ctx, p.channel_template)
    msg = OutboundMessage(platform=ctx.platform, kind="channel", text=text, channel_id=ctx.subject.channel_id,
                          mention_ids=(ctx.subject.member_id,), dedupe_key=dedupe_key(ctx))
    await outbox.submit(msg, playbook_id=ctx.playbook.id, action="send_nudge", reason=reason, automated=True)
