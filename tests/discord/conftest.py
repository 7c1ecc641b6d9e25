from tests.fakes.discord_fixtures import discord_bot, fake_discord  # noqa: F401
