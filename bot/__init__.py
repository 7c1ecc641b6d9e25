"""Steward: a community-manager bot for Slack and Discord."""

__version__ = "0.1.0"
