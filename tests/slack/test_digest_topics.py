"""The moderators' digest of unanswered questions says which topic (topics.yaml) each question
belongs to, so the manager knows at a glance who could answer it: by the words the question uses,
else by its channel; no topic when nothing shows one."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import T0
from tests.fakes.slack_requests import message


async def test_each_unanswered_question_in_the_digest_names_its_topic(start_bot, fake):
    fake.add_user("UASK", "Ada Asker")
    bot = await start_bot("http", playbooks=("unanswered_digest",))
    asked = [("CHELP", "How do I configure the proxy for the installer?"),   # its words and #help: install
             ("CHELP", "Is there a plugin that can add extensions to the sidebar?"),  # in #help, but plugins
             ("CGEN", "Does anyone know when the meetup starts?")]           # nothing shows a topic
    for n, (channel, text) in enumerate(asked, start=1):
        status, _ = await bot.http.event(message(channel, "UASK", text, ts=f"{int(T0.timestamp()) + n}.{n:06d}"))
        assert status == 200
    await bot.settle(len(asked))
    bot.app.clock.advance_to(T0 + timedelta(hours=5, minutes=10))
    await bot.app.engine.fire_schedule("unanswered_digest", bot.app.clock.now())
    await bot.deliver()
    [digest] = fake.posted("CMODS")
    items = sorted(b["text"]["text"] for b in digest["blocks"] if b["type"] == "section")
    assert items == [
        '<@UASK> in <#CGEN>, waiting 5 h: "Does anyone know when the meetup starts?"',
        '<@UASK> in <#CHELP> (topic: installing and setting up), waiting 5 h: '
        '"How do I configure the proxy for the installer?"',
        '<@UASK> in <#CHELP> (topic: plugins), waiting 5 h: "Is there a plugin that can add extensions to the '
        'sidebar?"']
