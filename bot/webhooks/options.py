"""``[features.webhooks]``: the endpoints Steward posts signed events to, and how long it keeps trying.

```toml
[features.webhooks]
give_up_after = "24h"          # an event not accepted by then is given up on and listed in steward failures
timeout_seconds = 10           # a POST with no answer by then counts as failed (and is retried)

[features.webhooks.endpoints.crm]
url = "https://crm.example.org/hooks/steward"
secret_env = "STEWARD_WEBHOOK_SECRET"     # the name of the variable that holds the signing secret
events = ["member.joined", "member.opted_out", "member.forgotten"]
```
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.engine.durations import parse_duration
from bot.settings import EnvName
from bot.webhooks.events import EVENT_TYPES


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    url: str
    #: the environment variable holding this endpoint's signing secret (never the secret itself)
    secret_env: EnvName
    #: the event types it receives; "*" for all of them
    events: list[str] = Field(min_length=1)
    #: put message text (a question's words) in the payload; off by default
    include_text: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        u = urlparse(v)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return v

    @field_validator("events")
    @classmethod
    def _known_events(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if e != "*" and e not in EVENT_TYPES]
        if bad:
            raise ValueError(f"unknown event type(s) {', '.join(bad)}; known: {', '.join(EVENT_TYPES)}")
        return v

    def wants(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events


class WebhookOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    endpoints: dict[str, Endpoint] = Field(default_factory=dict)
    #: an event an endpoint has not accepted by then is given up on (recorded, shown in steward failures)
    give_up_after: str = "24h"
    #: a POST not answered within this many seconds counts as failed and is retried
    timeout_seconds: float = Field(10.0, gt=0, le=25)
    #: the first retry waits about this long; each later one waits about as long as the event is old
    backoff_base_seconds: float = Field(5.0, gt=0)
    #: and never longer than this
    backoff_max_seconds: float = Field(3600.0, gt=0)

    @field_validator("give_up_after")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @property
    def give_up(self) -> timedelta:
        return parse_duration(self.give_up_after)


def webhook_options(settings: Any) -> WebhookOptions:
    """The config's ``[features.webhooks]`` (a bad section raises pydantic's ValidationError, naming the key)."""
    raw = (getattr(settings, "features", None) or {}).get("webhooks") or {}
    return WebhookOptions.model_validate(raw)
