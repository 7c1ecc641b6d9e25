"""``/steward`` as a Discord application command group, and the "Report to moderators" message menu.

Every subcommand defers at once (ephemeral, within Discord's 3 seconds), becomes a core
``CommandInvoked``, is answered by ``bot.commands`` (the same handlers Slack uses: manager checks,
polite refusals, audit log) and the ``Reply`` is written into the deferred response.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.adapters.discord import translate as tr
from bot.adapters.discord.views import discord_parts
from bot.commands import HELP, Reply, commands_for

if TYPE_CHECKING:
    from bot.adapters.discord.runtime import DiscordAdapter

log = logging.getLogger("steward.discord")

REPORT_MENU = "Report to moderators"
NOT_HERE = "Steward is not set up for this server."
SORRY = "Something went wrong on my side and it has been logged. Please try again in a moment."
THANKS = ("Thank you for the report. The moderators will have a look; "
          "the author is not told who reported the message.")


def _describe(name: str) -> str:
    for usage, what in HELP.items():
        if usage.split()[0] == name:
            return what[:100]
    return name


class CommandRunner:
    """Turns an interaction into ``CommandInvoked`` and writes the ``Reply`` back."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter

    async def run(self, interaction: discord.Interaction, command: str, *args: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        app = self.adapter.app
        if not self.adapter.wants_guild(interaction.guild_id, "command"):
            await self.reply(interaction, Reply(NOT_HERE))
            return
        user = interaction.user
        roles = [r.id for r in getattr(user, "roles", ()) if not r.is_default()]
        place = self.adapter.place(interaction.channel_id) if interaction.channel_id else None
        ev = tr.command_invoked(member_id=user.id, channel_id=place.channel_id if place else None, command=command,
                                args=tuple(args), role_ids=roles,
                                manage_guild=interaction.permissions.manage_guild, now=app.clock.now())
        try:
            reply = await commands_for(app).handle(ev)
        except Exception:
            log.exception("discord: /steward %s failed", command)
            reply = Reply(SORRY)
        await self.reply(interaction, reply)
        try:
            await self.adapter.handle(ev)  # playbooks may listen for command_invoked
        except Exception:
            pass  # logged by handle()

    async def reply(self, interaction: discord.Interaction, reply: Reply) -> None:
        """Write a Reply into the deferred response: text (split at 2000), then the digest's embeds."""
        parts = discord_parts(reply.text, reply.digest)
        if not parts:
            parts = [{"content": "Done."}]
        if not reply.ephemeral and interaction.channel is not None:
            await interaction.edit_original_response(content="Posted in this channel.")
            for part in parts:
                await interaction.channel.send(**{k: v for k, v in part.items() if v is not None})
            return
        first, rest = parts[0], parts[1:]
        await interaction.edit_original_response(content=first.get("content"),
                                                 embed=first.get("embed"), view=first.get("view"))
        for part in rest:
            await interaction.followup.send(ephemeral=True, **{k: v for k, v in part.items() if v is not None})


def build_commands(adapter: DiscordAdapter) -> tuple[app_commands.Group, app_commands.ContextMenu]:
    """The ``/steward`` group (same subcommands as Slack) and the report message menu."""
    runner = CommandRunner(adapter)
    app = adapter.app
    steward = app_commands.Group(name="steward", description="Steward, the community helper", guild_only=True)
    playbooks = app_commands.Group(name="playbooks", description="Manage playbooks (managers)", parent=steward)

    def simple(name: str) -> None:
        async def callback(interaction: discord.Interaction) -> None:
            await runner.run(interaction, name)

        steward.command(name=name, description=_describe(name))(callback)

    for name in ("help", "stats", "unanswered", "lurkers", "ambassadors", "flags", "optout", "optin", "dashboard",
                 "unlink", "failures"):
        simple(name)

    @steward.command(name="link", description=_describe("link"))
    @app_commands.describe(code="the code /steward link gave you on Slack; leave out to get one here")
    async def link(interaction: discord.Interaction, code: str | None = None) -> None:
        await runner.run(interaction, "link", *([code] if code else []))

    @steward.command(name="interests", description=_describe("interests"))
    @app_commands.describe(topics="topic ids to choose (space-separated), or clear; leave out to see yours")
    async def interests(interaction: discord.Interaction, topics: str | None = None) -> None:
        await runner.run(interaction, "interests", *(topics.split() if topics else []))

    @steward.command(name="intros", description=_describe("intros"))
    @app_commands.describe(choice="on, off or pause; leave out to see where you stand (managers: the pairings)")
    @app_commands.choices(choice=[app_commands.Choice(name=c, value=c) for c in ("on", "off", "pause")])
    async def intros(interaction: discord.Interaction, choice: str | None = None) -> None:
        await runner.run(interaction, "intros", *([choice] if choice else []))

    @steward.command(name="nudge", description=_describe("nudge"))
    @app_commands.describe(member="who to nudge")
    async def nudge(interaction: discord.Interaction, member: discord.User) -> None:
        await runner.run(interaction, "nudge", str(member.id))

    @steward.command(name="forget", description=_describe("forget"))
    @app_commands.describe(member="whose personal data to erase")
    async def forget(interaction: discord.Interaction, member: discord.User) -> None:
        await runner.run(interaction, "forget", str(member.id))

    locales = list(app.templates.locales())[:25]

    @steward.command(name="language", description=_describe("language"))
    @app_commands.describe(code="the language to write to you in; leave out to see yours")
    @app_commands.choices(code=[app_commands.Choice(name=c, value=c) for c in locales])
    async def language(interaction: discord.Interaction, code: str | None = None) -> None:
        await runner.run(interaction, "language", *([code] if code else []))

    @steward.command(name="report", description=_describe("report"))
    @app_commands.describe(message_link="the message's link (right-click → Copy Message Link)",
                           reason="what is wrong with it")
    async def report(interaction: discord.Interaction, message_link: str, reason: str = "") -> None:
        await runner.run(interaction, "report", message_link, reason)

    async def playbook_ids(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=pid, value=pid) for pid in sorted(app.engine.playbooks)
                if current.lower() in pid.lower()][:25]

    @playbooks.command(name="list", description="list playbooks and whether they are on")
    async def pb_list(interaction: discord.Interaction) -> None:
        await runner.run(interaction, "playbooks", "list")

    @playbooks.command(name="reload", description="reload playbooks from disk")
    async def pb_reload(interaction: discord.Interaction) -> None:
        await runner.run(interaction, "playbooks", "reload")

    def with_id(verb: str, what: str) -> None:
        async def callback(interaction: discord.Interaction, playbook: str) -> None:
            await runner.run(interaction, "playbooks", verb, playbook)

        cmd = playbooks.command(name=verb, description=what)(
            app_commands.describe(playbook="the playbook's id")(callback))
        cmd.autocomplete("playbook")(playbook_ids)

    with_id("enable", "turn a playbook on")
    with_id("disable", "turn a playbook off")
    with_id("preview", "show what a scheduled playbook would do now, sending nothing")

    async def report_message(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        if not adapter.wants_guild(interaction.guild_id, "report"):
            await interaction.edit_original_response(content=NOT_HERE)
            return
        ev = tr.message_reported(message, reporter_id=interaction.user.id,
                                 place=adapter.place(message.channel.id), now=app.clock.now())
        try:
            await adapter.handle(ev)
        except Exception:
            await interaction.edit_original_response(content=SORRY)
            return
        await interaction.edit_original_response(content=THANKS)

    menu = app_commands.ContextMenu(name=REPORT_MENU, callback=app_commands.guild_only(report_message))
    return steward, menu
