"""``post_digest``: one message to the moderators with an item per question or candidate, each with
buttons that come back as ``ButtonClicked`` (approve / not now / resolve)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.core.records import Button, Digest, DigestItem, OutboundMessage
from bot.engine.actions import dedupe_key, resolve_channel, template_context
from bot.engine.context import RunContext
from bot.engine.registry import action


class DigestButton(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["approve", "not_now", "resolve"]
    label: str
    style: Literal["default", "primary", "danger"] = "default"


class PostDigest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field("moderators", description="a channel name from the config's [channels]")
    items: Literal["questions", "candidates"] = Field(description="what the scan listed")
    title_template: str
    item_template: str
    buttons: list[DigestButton] = Field(default_factory=list)

    def check(self, ctx) -> list[str]:
        out = []
        for t in (self.title_template, self.item_template):
            if not ctx.template_exists(t):
                out.append(f"template {t!r} does not exist")
                continue
            err = ctx.render_sample(t)
            if err:
                out.append(f"template {t!r} does not render: {err}")
        return out


@action("post_digest", PostDigest)
async def post_digest(ctx: RunContext, p: PostDigest) -> None:
    """Post a digest (one item per question or candidate, with buttons) to a channel."""
    channel_id = resolve_channel(ctx, p.channel)
    listed = ctx.subject.vars.get(p.items) or []
    if not channel_id or not listed:
        return
    context, locale = await template_context(ctx)
    tpl = ctx.engine.templates
    title = tpl.render(p.title_template, context, locale)
    one = "question" if p.items == "questions" else "candidate"
    items = []
    interests = getattr(ctx.engine.services, "interests", None)
    for entry in listed:
        if one == "question":  # which topic it belongs to (topics.yaml), so the right person looks
            entry = {**entry, "topic": interests.topic_of(ctx.platform, entry["channel"]["id"], entry.get("text", ""),
                                                          locale) if interests is not None else None}
        if entry.get("text"):  # a member's words, quoted: mentions read as @name
            entry = {**entry, "text": await ctx.engine.readable(ctx.platform, entry["text"])}
        text = tpl.render(p.item_template, {**context, one: entry}, locale)
        buttons = tuple(Button(b.action, b.label, f"{ctx.platform}|{entry['key']}", b.style) for b in p.buttons)
        items.append(DigestItem(text=text, buttons=buttons))
    msg = OutboundMessage(platform=ctx.platform, kind="channel", text=title, channel_id=channel_id,
                          digest=Digest(title=title, items=tuple(items)), dedupe_key=dedupe_key(ctx))
    await ctx.outbox.submit(msg, playbook_id=ctx.playbook.id, action="post_digest",
                            reason=ctx.subject.reason or ctx.playbook.spec.description)
