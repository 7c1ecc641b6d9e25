"""``[features.questions]``: help channels and the rules answers are inferred by, read from the settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AnswerRules(BaseModel):
    """How answers are inferred in flat channels ([features.questions] in the config)."""

    model_config = ConfigDict(extra="forbid")

    reply_window_minutes: float = Field(1440, gt=0, description="an addressed reply counts within this time")
    reply_window_messages: int = Field(40, ge=1, description="... and within this many channel messages")
    takeup_messages: int = Field(12, ge=1, description="a question aimed at someone: their next message "
                                                         "within this many messages answers it")
    thanks_messages: int = Field(30, ge=1, description="the asker's thanks within this many messages")
    exchange_messages: int = Field(8, ge=1, description="a line to nobody in particular continues its author's "
                                                       "last exchange within this many messages ...")
    exchange_minutes: float = Field(5, gt=0, description="... and this many minutes")
    pickup_messages: int = Field(6, ge=1, description="a line to nobody in particular answers a question asked "
                                                     "this few messages before that nobody has taken up")
    accept_emoji: list[str] = Field(default_factory=lambda: [
        "white_check_mark", "heavy_check_mark", "ballot_box_with_check", "✅", "✔️", "☑️", "+1", "thumbsup",
        "👍", "pray", "🙏", "raised_hands", "tada"])
    #: names must be at least this long to count as addressing someone without a mention
    min_name_length: int = Field(3, ge=1)


class QuestionSettings(AnswerRules):
    """``[features.questions]``: help channels (by config name, native ID or channel name) and the
    answer rules above."""

    help_channels: list[str] = Field(default_factory=lambda: ["help", "support", "questions", "hulp", "vragen"])
    similar_days: int = Field(90, ge=1, description="how far back to look for members who answered alike")


def question_settings(settings: Any) -> QuestionSettings:
    raw = (getattr(settings, "features", None) or {}).get("questions", {})
    return QuestionSettings.model_validate(raw)
