"""Overview, Questions, Ambassadors and Moderation: what is waiting for a manager, and the same
decisions as the chat's digest buttons (actions.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.community import ambassadors as amb
from bot.community.health import compute_health
from bot.community.questions import channel_names
from bot.core.clock import as_utc
from bot.core.roles import NOT_A_MANAGER, NOT_ABOUT_YOURSELF
from bot.dashboard import charts, queries
from bot.dashboard.actions import click, nonce
from bot.dashboard.readable import reader
from bot.dashboard.server import DASH, view
from bot.engine.runner import ALREADY_DONE
from bot.messaging.templates import ago
from bot.moderation.decisions import DECISIONS
from bot.moderation.queue import service as moderation

#: the periods the overview compares (days), and the one it opens with
PERIODS = (7, 30, 90)
DEFAULT_DAYS = 30
#: the health figures are recomputed at most this often (they read every message of the period)
HEALTH_TTL_S = 120.0


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", overview)
    router.add_get("/questions", questions)
    router.add_post("/questions/resolve", resolve)
    router.add_get("/ambassadors", ambassadors)
    router.add_post("/ambassadors/decide", decide_candidate)
    router.add_get("/moderation", cases)
    router.add_post("/moderation/decide", decide_case)


def refusal_words(t, answer: str | None) -> str | None:
    """The manager's language for a refusal the engine gave in chat words."""
    return {NOT_A_MANAGER: t("refused.not_manager"), NOT_ABOUT_YOURSELF: t("refused.about_yourself"),
            ALREADY_DONE: t("refused.already_done")}.get(answer or "", answer)


# --------------------------------------------------------------------------- overview


def warm_up(dash) -> None:
    """Start computing the overview's default figures as the dashboard starts (on a large community
    they take seconds; the first manager to open the overview then waits less or not at all)."""
    for platform in dash.app.settings.enabled_platforms():
        dash.warm(("health", platform, DEFAULT_DAYS), _health_computation(dash, platform, DEFAULT_DAYS))


async def health_pair(dash, platform: str, days: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(this period's health, the previous period's), as ``steward report`` computes it."""
    return await dash.cached(("health", platform, days), HEALTH_TTL_S, _health_computation(dash, platform, days))


def _health_computation(dash, platform: str, days: int):
    app = dash.app
    staff = tuple(app.engine.roles.staff_ids(platform))

    async def compute() -> tuple[dict[str, Any], dict[str, Any]]:
        now = app.clock.now()
        span = timedelta(days=days)
        cur = await compute_health(app.store, platform=platform, start=now - span, end=now, staff_ids=staff)
        prev = await compute_health(app.store, platform=platform, start=now - 2 * span, end=now - span,
                                    staff_ids=staff)
        return cur, prev

    return compute


def _figures(t, cur: dict[str, Any], prev: dict[str, Any]) -> list[dict[str, Any]]:
    def newcomers(h):
        return sum(w["new_members"] for w in h["weekly"])

    def rate(h):
        return None if h["answered_rate"] is None else round(100 * h["answered_rate"])

    rows = [
        ("members", cur["members"], prev["members"], ""),
        ("active", cur["active_members"], prev["active_members"], ""),
        ("newcomers", newcomers(cur), newcomers(prev), ""),
        ("messages", cur["messages"], prev["messages"], ""),
        ("questions", cur["questions"], prev["questions"], ""),
        ("answered_rate", rate(cur), rate(prev), "%"),
        ("median_wait", cur["median_time_to_first_response_s"], prev["median_time_to_first_response_s"], "s"),
        ("p90_wait", cur["p90_time_to_first_response_s"], prev["p90_time_to_first_response_s"], "s"),
    ]
    out = []
    for key, now_v, before, unit in rows:
        change = None if now_v is None or before is None else now_v - before
        shown = (lambda v: "–" if v is None else charts.duration(v)) if unit == "s" else \
                (lambda v, u=unit: "–" if v is None else f"{v:,}{u}")
        if change is None:
            moved = "–"
        elif unit == "s":
            moved = charts.duration(change, signed=True)
        elif unit == "%":  # a rate's change is in percentage points
            moved = t("overview.points", n=f"{change:+}")
        else:
            moved = f"{change:+,}"
        out.append({"key": key, "label": t(f"overview.{key}"), "now": shown(now_v), "before": shown(before),
                    "change": moved})
    return out


async def overview(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    t = view(request).t
    login = view(request).login
    try:
        days = int(request.query.get("days", DEFAULT_DAYS))
    except ValueError:
        days = DEFAULT_DAYS
    days = days if days in PERIODS else DEFAULT_DAYS
    cur, prev = await health_pair(dash, login.platform, days)
    p = cur["participation"]
    participation = [(t("overview.creators"), p["creators"]), (t("overview.contributors"), p["contributors"]),
                     (t("overview.readers"), p["readers"])]
    weekly = cur["weekly"][-13:]
    waits = [(d["bucket"], d["questions"]) for d in cur["time_to_first_response"]]
    return dash.page(
        request, "overview.html", title=t("nav.overview"), days=days, periods=PERIODS,
        figures=_figures(t, cur, prev),
        participation=participation,
        participation_chart=charts.bars(participation, t("overview.participation")),
        weekly=weekly,
        weekly_chart=charts.bars([(w["week"], w["messages"]) for w in weekly], t("overview.weekly")),
        waits=waits, waits_chart=charts.bars(waits, t("overview.waits")),
        retention=cur["retention"][-12:])


# --------------------------------------------------------------------------- questions


async def questions(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    app, t, login = dash.app, view(request).t, view(request).login
    try:
        page = max(0, int(request.query.get("page", "0")))
    except ValueError:
        page = 0
    await app.store.flush()
    rows = await queries.open_questions(app.store, login.platform, offset=page * queries.PAGE)
    total = await queries.count_open_questions(app.store, login.platform)
    chans = await channel_names(app.store, login.platform, app.settings)
    who = await queries.names(app.store, login.platform, {r["author_id"] for r in rows})
    read = await reader(app.store, login.platform, chans, [x for r in rows for x in (r["text"], r["reason"])])
    now = app.clock.now()
    items = [{"key": f"{r['channel_id']}/{r['message_id']}", "text": read(r["text"]) or t("questions.no_text"),
              "channel": chans.get(r["channel_id"], r["channel_id"]), "asker": who.get(r["author_id"], r["author_id"]),
              "age": ago(as_utc(r["asked_at"]), now), "asked_at": as_utc(r["asked_at"]),
              "reason": read(r["reason"]) or t("questions.no_answer_yet"), "nonce": nonce(),
              "url": queries.message_link(app.settings, login.platform, r["channel_id"], r["message_id"])}
             for r in rows]
    return dash.page(request, "questions.html", title=t("nav.questions"), items=items, total=total, page=page,
                     more=(page + 1) * queries.PAGE < total)


async def resolve(request: web.Request) -> web.StreamResponse:
    dash, t = request.app[DASH], view(request).t
    key = str((await request.post()).get("key", ""))[:200]
    if "/" not in key:
        return dash.done(request, "/questions", t("questions.unknown"))
    answer = await click(request, "resolve", f"{view(request).login.platform}|{key}")
    return dash.done(request, "/questions", refusal_words(t, answer) or t("questions.resolved"))


# --------------------------------------------------------------------------- ambassadors


async def ambassadors(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    app, t, login = dash.app, view(request).t, view(request).login
    await app.store.flush()
    cfg = amb.ambassador_settings(app.settings)
    w = amb.playbook_weights(app.engine)  # the same weights and bar as the weekly digest

    async def rank():
        return await amb.rank_candidates(app.store, login.platform, now=app.clock.now(), cfg=cfg, weights=w,
                                         staff_check=amb.staff_check(app.engine, login.platform))

    ranked = await dash.cached(("candidates", login.platform), 60.0, rank)
    chans = await channel_names(app.store, login.platform, app.settings)
    # as the digest lists them: not the approved, not those put off with "not now" (until then)
    now = app.clock.now()
    decided, latest = await queries.ambassador_decisions(app.store, login.platform)

    def off_list(member_id: str) -> bool:
        d = decided.get(member_id)
        return d is not None and (d["decision"] == "approved" or (d["snooze_until"] or now) > now)

    shown = [c for c in ranked if not off_list(c.member_id)][:25]
    items = [{"id": c.member_id, "name": c.name or c.member_id, "score": c.score, "rank": i + 1,
              "evidence": amb.evidence_text(c, chans, w), "nonce": nonce(),
              "self": c.member_id == login.member_id} for i, c in enumerate(shown)]
    who = await queries.names(app.store, login.platform,
                              {d["member_id"] for d in latest} | {d["decided_by"] or "" for d in latest})
    done = [{"id": d["member_id"], "name": who.get(d["member_id"], d["member_id"]),
             "what": t(f"ambassadors.decided_{d['decision']}"), "by": who.get(d["decided_by"] or "", d["decided_by"]),
             "age": ago(d["decided_at"], now) if d["decided_at"] else ""} for d in latest]
    return dash.page(request, "ambassadors.html", title=t("nav.ambassadors"), items=items, done=done,
                     snooze_days=int(cfg.snooze_days))


async def decide_candidate(request: web.Request) -> web.StreamResponse:
    dash, t = request.app[DASH], view(request).t
    form = await request.post()
    member_id = str(form.get("member", ""))[:64]
    decision = str(form.get("decision", ""))
    if decision not in ("approve", "not_now") or not member_id:
        return dash.done(request, "/ambassadors", t("ambassadors.unknown"))
    if decision == "approve" and dash.standalone:
        return dash.done(request, "/ambassadors", t("standalone.no_platform"))
    answer = await click(request, decision, f"{view(request).login.platform}|{member_id}")
    name = (await queries.names(dash.app.store, view(request).login.platform, {member_id})).get(member_id, member_id)
    return dash.done(request, "/ambassadors", refusal_words(t, answer) or t(f"ambassadors.{decision}_done", name=name))


# --------------------------------------------------------------------------- moderation


async def cases(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    app, t, login = dash.app, view(request).t, view(request).login
    svc = moderation(app.engine)
    open_cases = await svc.cases.open_cases(login.platform, limit=queries.PAGE)
    chans = await channel_names(app.store, login.platform, app.settings)
    who = await queries.names(app.store, login.platform,
                              {c.member_id for c in open_cases} | {c.reporter_id or "" for c in open_cases})
    texts = await app.store.message_texts(login.platform, [m for c in open_cases for m in c.messages()[:5]])
    read = await reader(app.store, login.platform, chans,
                        [*(x for c in open_cases for x in (c.excerpt, c.reason)), *texts.values()])
    now = app.clock.now()
    items = []
    for c in open_cases:
        history = await svc.cases.history(c.platform, c.member_id, c.id)
        items.append({
            "id": c.id, "member": who.get(c.member_id, c.member_id), "rules": ", ".join(c.rules), "reason": read(c.reason),
            "excerpt": read(c.excerpt), "hits": c.hits, "age": ago(as_utc(c.opened_at), now),
            "channel": chans.get(c.channel_id or "", c.channel_id or ""), "auto": c.auto_action,
            "reporter": who.get(c.reporter_id or "", c.reporter_id) if c.reporter_id else None,
            "links": [queries.message_link(app.settings, c.platform, ch, mid) for ch, mid in c.messages()],
            # the case's messages as kept (the first five; the excerpt stands for them when none is)
            "messages": [{"text": read(texts[m]), "channel": chans.get(m[0], m[0])}
                         for m in c.messages()[:5] if texts.get(m)],
            "history": [{"id": h.id, "rules": ", ".join(h.rules), "status": h.status,
                         "age": ago(as_utc(h.opened_at), now)} for h in history],
            "buttons": [{"action": b.action, "label": t(f"moderation.{b.action}"), "danger": b.style == "danger"}
                        for b in svc.buttons(c)],
            "nonce": nonce(), "self": c.member_id == login.member_id})
    return dash.page(request, "moderation.html", title=t("nav.moderation"), items=items)


async def decide_case(request: web.Request) -> web.StreamResponse:
    dash, t = request.app[DASH], view(request).t
    form = await request.post()
    case_id, action = str(form.get("case", "")), str(form.get("decision", ""))
    if not case_id.isdigit() or action not in DECISIONS:
        return dash.done(request, "/moderation", t("moderation.unknown"))
    if dash.standalone:
        return dash.done(request, "/moderation", t("standalone.no_platform"))
    answer = await click(request, action, case_id)
    return dash.done(request, "/moderation",
                     refusal_words(t, answer) or t("moderation.done", id=case_id, what=t(f"moderation.did_{action}")))
