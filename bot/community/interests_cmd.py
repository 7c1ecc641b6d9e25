"""``/steward interests``: a member sees, chooses and clears their interests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands import Reply
from bot.core.events import CommandInvoked
from bot.messaging.markdown import escape

if TYPE_CHECKING:
    from bot.app import App


async def interests_cmd(app: App, ev: CommandInvoked) -> Reply:
    svc = app.services.interests
    if svc is None or not svc.topics.topics:
        return Reply("This community has no topics to choose from yet. An admin can add them in the topics file.")
    topics = svc.topics.topics
    prefs = await app.store.preferences(ev.platform, ev.member_id)
    member = await app.store.get_member(ev.platform, ev.member_id)
    locale = prefs.locale or (member.locale if member else None) or app.settings.community.default_locale
    args = [a.lower().strip(",") for a in ev.args if a.strip(",")]
    if args == ["clear"]:
        await svc.clear(ev.platform, ev.member_id)
        return Reply("Cleared: Steward keeps no interests for you now, and guesses none until you choose "
                     "some with `/steward interests TOPIC`.")
    if args:
        unknown = [a for a in args if a not in topics]
        if unknown:
            return Reply(f"I don't know the topic(s) {', '.join(f'`{escape(a)}`' for a in unknown)}. "
                         f"Topics: {', '.join(f'`{t}`' for t in topics)}.")
        await svc.choose(ev.platform, ev.member_id, args)
        names = ", ".join(f"**{escape(topics[a].label(locale))}**" for a in dict.fromkeys(args))
        return Reply(f"Done: your interests are {names}. They come before anything Steward guessed; "
                     "`/steward interests clear` clears them.")
    mine = await svc.of(ev.platform, ev.member_id)
    lines = []
    if not mine:
        lines.append("Steward keeps no interests for you.")
    else:
        lines.append("Your interests:")
        for it in mine:
            how = "you chose it" if it.source == "chosen" else "guessed from where and what you post"
            lines.append(f"- **{escape(topics[it.topic].label(locale))}** ({how})")
    lines.append("")
    lines.append("Topics: " + ", ".join(f"`{t.id}` ({escape(t.label(locale))})" for t in topics.values()) + ".")
    lines.append("Choose with `/steward interests " + " ".join(list(topics)[:2]) + "`; "
                 "`/steward interests clear` clears yours.")
    return Reply("\n".join(lines))
