"""Config: secrets only from the environment; a literal token is refused, naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.core.errors import ConfigError
from bot.settings import load_settings
from tests.conftest import ROOT


def test_example_config_loads():
    s = load_settings(ROOT / "config.example.toml")
    assert s.community.name == "Open Garden"
    assert s.channel_id("welcome", "discord") == "112233445566778899"


@pytest.mark.parametrize("section,key,value", [
    ("slack", "bot_token", "xoxb-1234567890-abcdefghijkl"),
    ("slack", "bot_token_env", "xoxb-1234567890-abcdefghijkl"),
    ("discord", "token_env", "MTAxMjM0NTY3ODkwMTIzNDU2.GhIjKl.abcdefghijklmnopqrstuvwxyz0123"),
])
def test_literal_token_is_refused_with_its_key(tmp_path, section, key, value):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[{section}]\n{key} = "{value}"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    msg = str(e.value)
    assert f"{section}.{key}" in msg and "environment variable" in msg
    assert value not in msg  # the secret itself is never echoed


def test_cli_refuses_literal_token(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[slack]\nenabled = true\nsigning_secret = "0123456789abcdef0123456789abcdef"\n')
    proc = subprocess.run([sys.executable, "-m", "bot", "check", "--config", str(cfg)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    assert "slack.signing_secret: looks like a literal secret" in proc.stdout + proc.stderr


def test_unknown_config_key_is_reported(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[community]\nnmae = "x"\n')
    with pytest.raises(ConfigError, match=r"community\.nmae"):
        load_settings(cfg)


def test_unknown_community_time_zone_is_reported(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[community]\ntimezone = "Europe/Amsterdamm"\n')
    with pytest.raises(ConfigError, match=r"community\.timezone.*'Europe/Amsterdamm' is not a time zone name"):
        load_settings(cfg)
