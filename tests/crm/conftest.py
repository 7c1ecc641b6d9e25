"""The fake Slack and the real bot on it (the Slack tests' fixtures)."""

from tests.slack.conftest import fake, slack_env, start_bot  # noqa: F401
