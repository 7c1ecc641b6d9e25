"""Configuration: a TOML file read into pydantic models. Secrets come only from environment
variables the config names; a literal token in the file is refused, naming the key."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.errors import ConfigError

_SECRET_PATTERNS = [
    re.compile(r"^xox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack bot/user/app tokens
    re.compile(r"^xapp-[A-Za-z0-9-]{10,}"),
    re.compile(r"^[MNO][A-Za-z\d_-]{20,}\.[A-Za-z\d_-]{5,}\.[A-Za-z\d_-]{20,}$"),  # Discord bot token
    re.compile(r"^[0-9a-f]{32}$"),  # Slack signing secret
]


#: what an ``*_env`` key may hold: the name of an environment variable, nothing that could be its value
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def env_name_problem(value: Any) -> str | None:
    """Why an ``*_env`` value is not a variable name, in words that never repeat the value."""
    if not isinstance(value, str) or not ENV_NAME.fullmatch(value):
        return ("must name an environment variable (letters, digits and _, e.g. SLACK_SIGNING_SECRET); "
                "the value is not shown, in case it is the secret itself")
    if any(p.match(value) for p in _SECRET_PATTERNS) or (
            "_" not in value and len(value) >= 20 and re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
        return ("looks like a secret rather than the name of an environment variable: put the secret in an "
                "environment variable and name that variable here (the value is not shown)")
    return None


def _env_name(v: str) -> str:
    if env_name_problem(v):
        raise ValueError("must name an environment variable; the value is not shown, in case it is a secret")
    return v


EnvName = Annotated[str, AfterValidator(_env_name)]


class _M(BaseModel):
    # an error never repeats what was typed: a secret pasted into the wrong key stays out of the logs
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class Community(_M):
    name: str = "our community"
    default_locale: str = "en"
    #: schedules and quiet hours use it for members whose platform gives no time zone (all of Discord)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone name (e.g. Europe/Amsterdam, Pacific/Auckland)") from None
        return v


class Storage(_M):
    url: str = "sqlite:///steward.db"
    #: message text is kept this many days; metadata stays (0 = keep no text)
    message_text_retention_days: int = Field(90, ge=0)


class Playbooks(_M):
    dir: str = "playbooks"
    messages_dir: str = "messages"
    dry_run: bool = False


class Managers(_M):
    slack_user_ids: list[str] = Field(default_factory=list)
    slack_usergroup: str | None = None
    discord_role_ids: list[str] = Field(default_factory=list)
    discord_user_ids: list[str] = Field(default_factory=list)


class Slack(_M):
    enabled: bool = False
    mode: Literal["socket", "http"] = "socket"
    bot_token_env: EnvName = "SLACK_BOT_TOKEN"
    app_token_env: EnvName = "SLACK_APP_TOKEN"
    signing_secret_env: EnvName = "SLACK_SIGNING_SECRET"
    api_base_url: str | None = None
    http_host: str = "0.0.0.0"
    http_port: int = 3000
    ambassador_usergroup: str | None = None
    #: the workspace Steward serves (T...); unset: the bot token's own workspace, learned at start
    #: from auth.test. Events, commands and clicks from any other workspace are refused.
    team_id: str | None = None


class Discord(_M):
    enabled: bool = False
    token_env: EnvName = "DISCORD_TOKEN"
    guild_ids: list[str] = Field(default_factory=list)
    api_base_url: str | None = None
    gateway_url: str | None = None
    #: run sharded with as many shards as Discord recommends (or shard_count when set)
    auto_shard: bool = False
    shard_count: int | None = None
    shard_ids: list[int] | None = None
    ambassador_role_id: str | None = None
    #: on Discord the lurker playbook mentions in a channel instead of DMing unless this is on
    lurker_dms: bool = False


class Outreach(_M):
    quiet_hours: str = "21:00-09:00"
    nudges_per_member: int = 1
    nudge_period_days: int = 30
    automated_dms_per_member: int = 2
    automated_dm_period_days: int = 30
    hourly_budget: int = 30


class Welcome(_M):
    dm_delay: str = "10m"
    suggest_channels: list[str] = Field(default_factory=lambda: ["introductions", "help", "announcements"])
    first_step_channel: str = "introductions"


class Dashboard(_M):
    """The web dashboard ``steward run`` serves (bot/dashboard)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8750, ge=0, le=65535)
    #: the address managers open (behind a proxy: its https URL); unset: http://host:port
    public_url: str | None = None
    #: how long a session lasts after the login link was opened
    session_hours: float = Field(12, gt=0, le=24 * 30)
    #: serve the Prometheus page at /metrics (bot/dashboard/metrics.py); off by default
    metrics: bool = False
    #: the environment variable holding the token /metrics asks for (``Authorization: Bearer ...``);
    #: unset: /metrics is open to whoever can reach the dashboard's address
    metrics_token_env: EnvName | None = None


class Settings(_M):
    community: Community = Field(default_factory=Community)
    storage: Storage = Field(default_factory=Storage)
    playbooks: Playbooks = Field(default_factory=Playbooks)
    #: logical channel names used by playbooks → native ID per platform
    channels: dict[str, dict[str, str]] = Field(default_factory=dict)
    managers: Managers = Field(default_factory=Managers)
    slack: Slack = Field(default_factory=Slack)
    discord: Discord = Field(default_factory=Discord)
    outreach: Outreach = Field(default_factory=Outreach)
    welcome: Welcome = Field(default_factory=Welcome)
    dashboard: Dashboard = Field(default_factory=Dashboard)
    #: free-form sections later features read (moderation, questions, ambassadors ...)
    features: dict[str, Any] = Field(default_factory=dict)

    source: str | None = Field(None, exclude=True)
    base_dir: str = Field(".", exclude=True)

    # --- helpers the engine calls (it never reads platform sections itself)
    @property
    def community_name(self) -> str:
        return self.community.name

    @property
    def default_locale(self) -> str:
        return self.community.default_locale

    @property
    def default_timezone(self) -> str:
        """The community's time zone: a member's own when their platform gives none."""
        return self.community.timezone

    def enabled_platforms(self) -> list[str]:
        out = [p for p in ("slack", "discord") if getattr(self, p).enabled]
        return out or ["slack", "discord"]

    def channel_id(self, name: str, platform: str) -> str | None:
        entry = self.channels.get(name.lstrip("#"))
        return entry.get(platform) if entry else None

    def channel_names(self) -> set[str]:
        return set(self.channels)

    def path(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else Path(self.base_dir) / q

    def secret(self, env_name: str) -> str | None:
        return os.environ.get(env_name) or None


def _find_literal_secrets(data: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if str(k).endswith("_env"):
                if env_name_problem(v):
                    found.append(key)
            elif isinstance(v, str):
                looks_secret = any(p.match(v) for p in _SECRET_PATTERNS)
                # an *_env key holds a variable's name (checked above); any other key named like a secret holds one
                named_secret = re.search(r"(token|secret|password)$", str(k))
                if looks_secret or (named_secret and v):
                    found.append(key)
            else:
                found.extend(_find_literal_secrets(v, key))
    return found


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read a TOML config (or defaults when ``path`` is None)."""
    data: dict[str, Any] = {}
    base = Path(".")
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ConfigError(f"{p}: config file not found") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e}") from e
        secrets = _find_literal_secrets(data)
        if secrets:
            keys = ", ".join(secrets)
            raise ConfigError(
                f"{p}: {keys}: looks like a literal secret. Secrets never go in the config file: put the "
                f"value in an environment variable and name that variable in the matching *_env key "
                f"(a *_env key holds only a name: letters, digits and _; the value is not shown)"
            )
        base = p.parent
    for k, v in overrides.items():
        if v is not None:
            data.setdefault(k, {}) if isinstance(v, dict) else None
            data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    try:
        s = Settings.model_validate(data)
    except ValidationError as e:
        lines = [f"{path or 'config'}: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ConfigError("\n".join(lines)) from e
    s.source = str(path) if path else None
    s.base_dir = str(base)
    return s
