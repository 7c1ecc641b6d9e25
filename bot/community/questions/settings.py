"""``[features.questions]``: help channels and the answer rules, read from the settings."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from bot.community.questions.tracker import AnswerRules


class QuestionSettings(AnswerRules):
    """``[features.questions]``: help channels (by config name, native ID or channel name) and the
    answer rules above."""

    help_channels: list[str] = Field(default_factory=lambda: ["help", "support", "questions", "hulp", "vragen"])
    similar_days: int = Field(90, ge=1, description="how far back to look for members who answered alike")


def question_settings(settings: Any) -> QuestionSettings:
    raw = (getattr(settings, "features", None) or {}).get("questions", {})
    return QuestionSettings.model_validate(raw)
