"""Actions: verbs. Every message goes to the outbox with a dedupe key made of the run key (playbook,
subject, period) and the action's position, so the same action can never be queued twice."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.core.records import OutboundMessage
from bot.engine.context import RunContext
from bot.engine.durations import parse_duration
from bot.engine.registry import action
from bot.engine.schema import Duration
from bot.messaging.markdown import mentioned_ids


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def member_view(ctx: RunContext, member_id: str | None) -> dict[str, Any] | None:
    if not member_id:
        return None
    m = await ctx.engine.store.get_member(ctx.platform, member_id)
    prefs = await ctx.engine.store.preferences(ctx.platform, member_id)
    # no name known (a lookup failed, the platform has none): templates greet without one, never
    # with a raw ID
    name = (m.display_name if m else "") or ""
    return {
        "id": member_id,
        "name": name,
        "locale": prefs.locale or (m.locale if m else None),
        "timezone": (m.timezone if m else None) or getattr(ctx.engine.settings, "default_timezone", "UTC"),
        "joined_at": m.joined_at if m else None,
        #: what the CRM says about them (steward crm import): membership, region, interests ...
        "attributes": await ctx.engine.store.member_attributes(ctx.platform, member_id),
    }


async def channel_view(ctx: RunContext, channel_id: str | None) -> dict[str, Any] | None:
    if not channel_id:
        return None
    return {"id": channel_id, "name": await ctx.engine.services.channel_display(ctx.platform, channel_id)}


async def template_context(ctx: RunContext) -> tuple[dict[str, Any], str | None]:
    """The variables every template gets, and the locale to render in. Read once per run: a run's
    actions (a greeting, a DM and its fallback) share them; each gets its own copy to add to."""
    hit = ctx.shared.get("template_context")
    if hit is None:
        hit = ctx.shared["template_context"] = await _template_context(ctx)
    return dict(hit[0]), hit[1]


async def _template_context(ctx: RunContext) -> tuple[dict[str, Any], str | None]:
    s = ctx.engine.settings
    member = await member_view(ctx, ctx.subject.member_id)
    channel = await channel_view(ctx, ctx.subject.channel_id)
    community = {"name": getattr(s, "community_name", "our community"),
                 "default_locale": getattr(s, "default_locale", "en")}
    context: dict[str, Any] = {
        "community": community,
        "member": member,
        "actor": member,
        "channel": channel,
        "channels": [],
        "now": ctx.now,
        "platform": ctx.platform,
        "playbook": {"id": ctx.playbook.id, "description": ctx.playbook.spec.description},
        "vars": dict(ctx.playbook.spec.vars),
        "reason": ctx.subject.reason,
    }
    context["channels"], context["first_step"] = _suggestions(ctx)
    context.update(ctx.subject.vars)
    locale = (member or {}).get("locale") or community["default_locale"]
    return context, locale


def _suggestions(ctx: RunContext) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Two or three channels worth a newcomer's time (not the one they came in through), and a
    concrete first step, from the config's [welcome] section."""
    s = ctx.engine.settings
    welcome = getattr(s, "welcome", None)
    resolve = getattr(s, "channel_id", None)
    if welcome is None or not callable(resolve):
        return [], {"channel": None}
    out = []
    for name in welcome.suggest_channels:
        cid = resolve(name, ctx.platform)
        if cid and cid != ctx.subject.channel_id:
            out.append({"id": cid, "name": name})
    fs_id = resolve(welcome.first_step_channel, ctx.platform)
    first = {"channel": {"id": fs_id, "name": welcome.first_step_channel} if fs_id else None}
    return out[:3], first


def resolve_channel(ctx: RunContext, name: str) -> str | None:
    if name == "here":
        return ctx.subject.channel_id
    resolve = getattr(ctx.engine.settings, "channel_id", None)
    return resolve(name, ctx.platform) if callable(resolve) else name


async def render(ctx: RunContext, template: str, extra: dict[str, Any] | None = None) -> tuple[str, str | None]:
    context, locale = await template_context(ctx)
    if extra:
        context.update(extra)
    return ctx.engine.templates.render(template, context, locale), locale


def dedupe_key(ctx: RunContext, suffix: str = "") -> str:
    return f"{ctx.run_key}:{ctx.action_index}{suffix}"


def is_outreach(ctx: RunContext, explicit: bool | None = None) -> bool:
    """A DM nobody asked for: one from a scheduled playbook (a scan found the member), as opposed to
    an answer to something the member just did (joined, posted, reacted, typed a command)."""
    if explicit is not None:
        return explicit
    return ctx.playbook.spec.trigger.kind in ("schedule", "interval")


class SendDm(_P):
    template: str
    delay: Duration | None = Field(None, description="wait this long before sending, e.g. 10m")
    fallback_channel: str | None = Field(None, description="if DMs are refused, mention the member here")
    fallback_template: str | None = None
    automated: bool = Field(True, description="counts against the member's DM caps and ends with how to stop")
    outreach: bool | None = Field(
        None, description="unsolicited, so it waits for room in the [outreach] hourly_budget; default: yes in "
                          "scheduled playbooks, no where it answers the member's own action (a join, a message)")

    def check(self, ctx) -> list[str]:
        if self.delay is not None:
            parse_duration(self.delay)
        if bool(self.fallback_channel) != bool(self.fallback_template):
            return ["fallback_channel and fallback_template go together"]
        return []


@action("send_dm", SendDm)
async def send_dm(ctx: RunContext, p: SendDm) -> None:
    """Send the subject member a personal DM from a template."""
    if not ctx.subject.member_id:
        return
    # one context for the message and its stop hint (the member and their preferences read once)
    context, locale = await template_context(ctx)
    text = ctx.engine.templates.render(p.template, context, locale)
    if p.automated and ctx.engine.templates.exists("stop_hint"):
        text = text + "\n\n" + ctx.engine.templates.render("stop_hint", context, locale)
    fallback = None
    if p.fallback_channel and p.fallback_template:
        fb_text, _ = await render(ctx, p.fallback_template)
        fallback = {"kind": "channel", "channel_id": resolve_channel(ctx, p.fallback_channel), "text": fb_text,
                    "mention_ids": [ctx.subject.member_id]}
    msg = OutboundMessage(platform=ctx.platform, kind="dm", text=text, member_id=ctx.subject.member_id,
                          mention_ids=(), dedupe_key=dedupe_key(ctx))
    await ctx.outbox.submit(msg, playbook_id=ctx.playbook.id, action="send_dm",
                            reason=ctx.subject.reason or ctx.playbook.spec.description,
                            delay=parse_duration(p.delay) if p.delay else None,
                            automated=p.automated, fallback=fallback, outreach=is_outreach(ctx, p.outreach))


class PostMessage(_P):
    channel: str = Field(description="a channel name from the config's [channels], or `here`")
    template: str
    delay: Duration | None = None


@action("post_message", PostMessage)
async def post_message(ctx: RunContext, p: PostMessage) -> None:
    """Post a message in a channel."""
    channel_id = resolve_channel(ctx, p.channel)
    if not channel_id:
        return
    text, _ = await render(ctx, p.template)
    msg = OutboundMessage(platform=ctx.platform, kind="channel", text=text, channel_id=channel_id,
                          mention_ids=mentioned_ids(text), dedupe_key=dedupe_key(ctx))
    await ctx.outbox.submit(msg, playbook_id=ctx.playbook.id, action="post_message",
                            reason=ctx.subject.reason or ctx.playbook.spec.description,
                            delay=parse_duration(p.delay) if p.delay else None)


class ReplyInThread(_P):
    template: str


@action("reply_in_thread", ReplyInThread)
async def reply_in_thread(ctx: RunContext, p: ReplyInThread) -> None:
    """Reply under the subject message, in its thread."""
    root = ctx.subject.thread_id or ctx.subject.message_id
    if not (ctx.subject.channel_id and root):
        return
    text, _ = await render(ctx, p.template)
    msg = OutboundMessage(platform=ctx.platform, kind="thread", text=text, channel_id=ctx.subject.channel_id,
                          thread_id=root, mention_ids=mentioned_ids(text), dedupe_key=dedupe_key(ctx))
    await ctx.outbox.submit(msg, playbook_id=ctx.playbook.id, action="reply_in_thread",
                            reason=ctx.subject.reason or ctx.playbook.spec.description)


class PostToModerators(_P):
    template: str


@action("post_to_moderators", PostToModerators)
async def post_to_moderators(ctx: RunContext, p: PostToModerators) -> None:
    """Post in the moderators' channel (config [channels] moderators)."""
    channel_id = resolve_channel(ctx, "moderators")
    if not channel_id:
        return
    text, _ = await render(ctx, p.template)
    msg = OutboundMessage(platform=ctx.platform, kind="channel", text=text, channel_id=channel_id,
                          mention_ids=(), dedupe_key=dedupe_key(ctx))
    await ctx.outbox.submit(msg, playbook_id=ctx.playbook.id, action="post_to_moderators",
                            reason=ctx.subject.reason or ctx.playbook.spec.description)


class AddReaction(_P):
    emoji: str = Field(description="emoji name without colons, e.g. wave")


@action("add_reaction", AddReaction)
async def add_reaction(ctx: RunContext, p: AddReaction) -> None:
    """React to the subject message."""
    if not (ctx.subject.channel_id and ctx.subject.message_id):
        return
    msg = OutboundMessage(platform=ctx.platform, kind="reaction", channel_id=ctx.subject.channel_id,
                          thread_id=ctx.subject.message_id, emoji=p.emoji.strip(":"), dedupe_key=dedupe_key(ctx))
    await ctx.outbox.submit(msg, playbook_id=ctx.playbook.id, action="add_reaction",
                            reason=ctx.subject.reason or ctx.playbook.spec.description)
