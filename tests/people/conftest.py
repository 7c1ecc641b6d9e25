"""Both fakes at once: the fake Slack (with the real bot on it) and the fake Discord."""

from tests.fakes.discord_fixtures import fake_discord  # noqa: F401
from tests.slack.conftest import fake, slack_env, start_bot  # noqa: F401
