"""``[features.questions]``: help channels and how answers are decided, read from the settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AnswerRules(BaseModel):
    """How answers are decided in flat channels ([features.questions] in the config)."""

    model_config = ConfigDict(extra="forbid")

    #: the shipped model's threshold, chosen by cross-validation on the training logs
    answer_threshold: float | None = Field(
        None, gt=0, lt=1,
        description="how sure Steward must be, from the replies linked to a question, that it was answered "
                    "(0-1; default: the model's own, chosen on the training logs). Higher: fewer answers "
                    "inferred, so more questions reported unanswered (fewer missed, more of them wrongly); "
                    "lower: the reverse")
    accept_emoji: list[str] = Field(default_factory=lambda: [
        "white_check_mark", "heavy_check_mark", "ballot_box_with_check", "✅", "✔️", "☑️", "+1", "thumbsup",
        "👍", "pray", "🙏", "raised_hands", "tada"])


class QuestionSettings(AnswerRules):
    """``[features.questions]``: help channels (by config name, native ID or channel name) and the
    answer settings above."""

    help_channels: list[str] = Field(default_factory=lambda: ["help", "support", "questions", "hulp", "vragen"])
    similar_days: int = Field(90, ge=1, description="how far back to look for members who answered alike")


def question_settings(settings: Any) -> QuestionSettings:
    raw = (getattr(settings, "features", None) or {}).get("questions", {})
    return QuestionSettings.model_validate(raw)
