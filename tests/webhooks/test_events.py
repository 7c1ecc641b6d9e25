"""The community's events as webhooks: a question resolved by a manager's button and one that
went unanswered, an ambassador approved, a moderation case decided; each once, each signed."""

from __future__ import annotations

from datetime import timedelta

from bot.core.events import ButtonClicked
from bot.moderation.queue import service
from tests.community.helpers import START, Community, community_playbooks
from tests.conftest import T0
from tests.moderation.conftest import MANAGERS, SlackModGateway, message, seconds
from tests.webhooks.test_webhooks import _secret, hooks, receiver  # noqa: F401


async def test_questions_and_ambassadors(make_app, tmp_path, receiver):  # noqa: F811
    app = await make_app(playbooks_dir=community_playbooks(tmp_path), start=START, managers=MANAGERS,
                         features=hooks(receiver.url, endpoints={"crm": {
                             "url": receiver.url, "secret_env": "CRM_HOOK_SECRET", "include_text": True,
                             "events": ["question.unanswered", "question.resolved", "ambassador.approved"]}}))
    c = Community(app)
    for mid, name in (("UASK", "Ada Asker"), ("UHELP", "Hugo Helper"), ("UMOD", "Mia Moderator")):
        await c.join(mid, name, at=START)
    q = await c.say("UASK", "How do I configure the proxy for the installer?", at=T0)
    await app.engine.dispatch(ButtonClicked("slack", T0 + timedelta(hours=5), member_id="UMOD", action="resolve",
                                            value=f"slack|CHELP/{q}", channel_id="CMODS"))
    q2 = await c.say("UHELP", "Where are the build logs kept?", at=T0 + timedelta(hours=6))
    # a day and a half later the question has left the window without a reply linked to it
    await c.say("UMOD", "Reminder: the meetup is on Thursday.", at=T0 + timedelta(days=2), channel="CHELP")
    await app.engine.dispatch(ButtonClicked("slack", T0 + timedelta(days=2, minutes=5), member_id="UMOD",
                                            action="approve", value="slack|UHELP", channel_id="CMODS"))
    await app.delivery.drain()
    got = {e["type"]: e["data"] for e in receiver.accepted}
    assert set(got) == {"question.resolved", "question.unanswered", "ambassador.approved"}, got
    assert got["question.resolved"]["question"]["message_id"] == q
    assert got["question.resolved"]["question"]["author_id"] == "UASK"
    assert got["question.resolved"]["resolved_by"] == "UMOD"
    assert got["question.unanswered"]["question"]["message_id"] == q2
    assert got["question.unanswered"]["question"]["text"] == "Where are the build logs kept?"  # include_text
    assert got["question.unanswered"]["reason"]
    assert got["ambassador.approved"] == {"member": {"platform": "slack", "id": "UHELP"}, "approved_by": "UMOD"}
    assert receiver.bad_signatures == 0 and sum(receiver.ids.values()) == 3


async def test_a_decided_case(make_app, receiver):  # noqa: F811
    app = await make_app(managers=MANAGERS, features=hooks(receiver.url))
    app.outbox.gateways["slack"] = SlackModGateway("slack")
    await app.engine.dispatch(message("kys", author="UB", at=seconds(1)))
    [case] = await service(app.engine).cases.all()
    for _ in range(2):  # a double click decides once
        await app.engine.dispatch(ButtonClicked("slack", T0 + timedelta(minutes=1), member_id="UMOD",
                                                action="case_warn", value=str(case.id), channel_id="CMODS"))
    await app.delivery.drain()
    [ev] = [e for e in receiver.accepted if e["type"] == "case.decided"]
    assert ev["data"] == {"case_id": case.id, "platform": "slack", "member_id": "UB", "rule": case.rule,
                          "decision": "warn", "decided_by": "UMOD"}
    assert "kys" not in str(receiver.accepted)
