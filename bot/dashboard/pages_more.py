"""Outreach, Playbooks, Members and the Audit log. Playbook switches and forgetting a member run the
same ``/steward`` commands as in chat (actions.py); exporting is for admins, as forgetting is."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.commands import preview_schedule
from bot.community.questions import channel_names
from bot.core.clock import as_utc, iso
from bot.dashboard import queries
from bot.dashboard.actions import command
from bot.dashboard.readable import reader, subjects
from bot.dashboard.server import DASH, view
from bot.messaging.markdown import to_plain
from bot.messaging.templates import ago
from bot.privacy import MemberRef, export_member


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/outreach", outreach)
    router.add_get("/playbooks", playbooks)
    router.add_post("/playbooks/change", change_playbook)
    router.add_get("/playbooks/{id}/preview", preview)
    router.add_get("/members", members)
    router.add_get("/members/{id}", member)
    router.add_post("/members/{id}/forget", forget)
    router.add_post("/members/{id}/export", export)
    router.add_get("/audit", audit)


def _rows(rows: list[dict[str, Any]], who: dict[str, str], now, read) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        when = r.get("sent_at") or r.get("not_before") or r["created_at"]
        out.append({**r, "to": who.get(r["member_id"] or "", r["member_id"] or r["channel_id"] or ""),
                    "text": read(to_plain(r["text"] or "")), "when": as_utc(when), "age": ago(as_utc(when), now)})
    return out


async def outreach(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    app, t, login = dash.app, view(request).t, view(request).login
    store, plat, now = app.store, login.platform, app.clock.now()
    sent = await queries.outbox(store, plat, ("sent",))
    queued = await queries.outbox(store, plat, ("pending", "sending"), order="due")
    failed = await queries.outbox(store, plat, ("failed", "skipped"))
    dry = await queries.outbox(store, plat, ("dry_run",))
    n_out, optouts = await queries.opt_outs(store, plat)
    who = await queries.names(store, plat, {r["member_id"] or "" for r in (*sent, *queued, *failed, *dry, *optouts)})
    budget = app.settings.outreach.hourly_budget
    used = await queries.budget_used(store, now=now)
    chans = await channel_names(store, plat, app.settings)
    read = await reader(store, plat, chans, [to_plain(r["text"] or "") for r in (*sent, *queued, *failed, *dry)])
    intros = await _intros(store, plat)
    hooks = [{**h, "age": ago(h["at"], now)} for h in await queries.webhook_failures(store)]
    return dash.page(request, "outreach.html", hooks=hooks, hooks_on=bool(hooks) or _webhooks_on(app.settings), title=t("nav.outreach"), sent=_rows(sent, who, now, read),
                     queued=_rows(queued, who, now, read), failed=_rows(failed, who, now, read),
                     dry=_rows(dry, who, now, read),
                     optouts=[{"name": who.get(o["member_id"], o["member_id"]), "id": o["member_id"],
                               "at": as_utc(o["opted_out_at"]) if o["opted_out_at"] else None} for o in optouts],
                     optout_count=n_out, budget=budget, budget_left=max(0, budget - used), intros=intros)


def _webhooks_on(settings) -> bool:
    """Whether any webhook endpoint is configured (the section then shows even with nothing given up)."""
    raw = (getattr(settings, "features", None) or {}).get("webhooks") or {}
    return bool(isinstance(raw, dict) and raw.get("endpoints"))


async def _intros(store, plat: str) -> dict:
    """Introductions at a glance: who takes part, pairings, acceptance and meet rates, the latest."""
    from bot.community.intros_store import IntroStore

    s = await IntroStore(store).stats(plat)
    who = await queries.names(store, plat, {m for r in s["recent"] for m, _ in r["members"]})

    def pct(n: int, d: int) -> str:
        return f"{100 * n / d:.0f}%" if d else "-"

    return {"on": s["opted"].get("on", 0), "paused": s["opted"].get("paused", 0), "off": s["opted"].get("off", 0),
            "pairs": s["pairs"], "asked": s["asked"], "accepted": s["answered_pairs"], "met": s["met_pairs"],
            "accepted_pct": pct(s["answered_pairs"], s["asked"]), "met_pct": pct(s["met_pairs"], s["answered_pairs"]),
            "recent": [{"at": r["at"], "topic": r["topic"] or "",
                        "members": [{"id": m, "name": who.get(m, m), "answer": a or ""} for m, a in r["members"]]}
                       for r in s["recent"]]}


async def playbooks(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    app, t = dash.app, view(request).t
    eng, now = app.engine, app.clock.now()
    login = view(request).login
    playbooks = sorted(eng.playbooks.values(), key=lambda p: p.id)
    runs = {pb.id: await queries.last_runs(app.store, pb.id) for pb in playbooks}
    chans = await channel_names(app.store, login.platform, app.settings)
    said = await subjects(app.store, login.platform, chans, {r["subject"] for rs in runs.values() for r in rs})
    items = []
    for pb in playbooks:
        tr = pb.spec.trigger
        when = tr.event or (f"cron {tr.schedule.cron} {tr.schedule.timezone}" if tr.schedule
                            else f"every {tr.interval.every}" if tr.interval else "")
        items.append({"id": pb.id, "on": eng.active(pb), "when": when, "description": pb.spec.description,
                      "file": f"{pb.file}:{pb.line}", "scheduled": tr.kind != "event",
                      "runs": [{"subject": said.get(r["subject"], r["subject"]),
                                "age": ago(as_utc(r["created_at"]), now)} for r in runs[pb.id]],
                      "problems": [str(p) for p in eng.problems if p.playbook_id == pb.id]})
    known = {pb.id for pb in eng.playbooks.values()}
    errors = [str(p) for p in eng.problems if p.playbook_id not in known or p.severity == "error"]
    return dash.page(request, "playbooks.html", title=t("nav.playbooks"), items=items, errors=errors)


async def change_playbook(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASH]
    form = await request.post()
    verb, target = str(form.get("verb", "")), str(form.get("id", ""))[:100]
    if verb not in ("enable", "disable", "reload"):
        return dash.done(request, "/playbooks", view(request).t("playbooks.unknown"))
    if dash.standalone:
        return dash.done(request, "/playbooks", view(request).t("standalone.no_platform"))
    reply = await command(request, "playbooks", verb, *([target] if verb != "reload" else []))
    return dash.done(request, "/playbooks", to_plain(reply.text))


async def preview(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    app, t, login = dash.app, view(request).t, view(request).login
    pid = request.match_info["id"]
    pb = app.engine.playbooks.get(pid)
    if pb is None:
        raise web.HTTPNotFound()
    items = []
    if pb.spec.trigger.kind != "event":
        for item in (await preview_schedule(app, pid, login.platform))[:50]:
            items.append({"action": item["action"], "to": item["to"], "text": to_plain(item["text"])})
        who = await queries.names(app.store, login.platform, {i["to"] for i in items})
        for i in items:
            i["to"] = who.get(i["to"], i["to"])
    return dash.page(request, "preview.html", title=t("playbooks.preview_of", id=pid), id=pid, items=items,
                     event=pb.spec.trigger.event)


async def members(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    app, t, login = dash.app, view(request).t, view(request).login
    q = request.query.get("q", "").strip()[:100]
    found = await queries.find_members(app.store, login.platform, q) if q else []
    now = app.clock.now()
    for m in found:
        m["active"] = ago(as_utc(m["last_active_at"]), now) if m["last_active_at"] else None
    return dash.page(request, "members.html", title=t("nav.members"), q=q, found=found)


async def member(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    app, t, login = dash.app, view(request).t, view(request).login
    mid = request.match_info["id"][:64]
    m = await app.store.get_member(login.platform, mid)
    if m is None:
        return dash.page(request, "message.html", status=404, title=t("members.unknown"), text=t("members.unknown"))
    now = app.clock.now()
    await app.store.flush()
    act = await queries.activity(app.store, login.platform, mid, now=now)
    sent = await queries.outbox(app.store, login.platform, ("sent", "pending", "sending", "failed", "skipped"),
                                member_id=mid, limit=20)
    prefs = await app.store.preferences(login.platform, mid)
    chans = await channel_names(app.store, login.platform, app.settings)
    read = await reader(app.store, login.platform, chans, [*(r["text"] for r in act["latest"]), *(to_plain(r["text"] or "") for r in sent)])
    latest = [{"channel": chans.get(r["channel_id"], r["channel_id"]), "text": read(r["text"]),
               "age": ago(as_utc(r["posted_at"]), now)} for r in act["latest"]]
    return dash.page(request, "member.html", title=m.display_name or mid, m=m, mid=mid, act=act, latest=latest,
                     sent=_rows(sent, {}, now, read), cases=await queries.member_cases(app.store, login.platform, mid),
                     opted_out=prefs.opted_out)


async def forget(request: web.Request) -> web.StreamResponse:
    """Admins only, confirmed: the same ``/steward forget`` as in chat."""
    dash, t = request.app[DASH], view(request).t
    mid = request.match_info["id"][:64]
    if not view(request).standing.admin:
        return dash.page(request, "message.html", status=403, title=t("members.admins_only"),
                         text=t("members.admins_only"))
    if (await request.post()).get("confirm") != "yes":
        return dash.done(request, f"/members/{mid}", t("members.confirm_first"))
    reply = await command(request, "forget", mid)
    return dash.done(request, "/members", to_plain(reply.text))


async def export(request: web.Request) -> web.StreamResponse:
    """Admins only, confirmed: everything stored about the member, as JSON (audited)."""
    dash, t = request.app[DASH], view(request).t
    app, login = dash.app, view(request).login
    mid = request.match_info["id"][:64]
    if not view(request).standing.admin:
        return dash.page(request, "message.html", status=403, title=t("members.admins_only"),
                         text=t("members.admins_only"))
    if (await request.post()).get("confirm") != "yes":
        return dash.done(request, f"/members/{mid}", t("members.confirm_first"))
    now = app.clock.now()
    await app.store.flush()
    data = await export_member(app.store, MemberRef(login.platform, mid), now=now)
    await app.store.audit(at=now, platform=login.platform, actor=login.member_id, action="dashboard:export",
                          target=mid)
    body = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return web.Response(text=body, content_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="steward-{login.platform}-{"".join(c for c in mid if c.isalnum())}.json"'})


async def audit(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    app, t, login = dash.app, view(request).t, view(request).login
    f = {k: request.query.get(k, "").strip()[:100] for k in ("actor", "action", "target")}
    before = request.query.get("before", "")
    rows = await queries.audit(app.store, platform=login.platform, before=int(before) if before.isdigit() else None,
                               **f)
    who = await queries.names(app.store, login.platform, {r["actor"] for r in rows})
    for r in rows:
        r["who"] = who.get(r["actor"], r["actor"])
        r["when"] = iso(r["at"])
        r["detail"] = json.dumps(r["detail"], ensure_ascii=False, default=str) if r["detail"] else ""
    nxt = rows[-1]["id"] if len(rows) == queries.PAGE else None
    return dash.page(request, "audit.html", title=t("nav.audit"), rows=rows, f=f, next_before=nxt)
