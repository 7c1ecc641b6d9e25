"""Config: secrets only from the environment; a literal token is refused, naming the key."""

from __future__ import annotations

import os
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


#: secrets pasted into an *_env key instead of the variable's name
PASTED = ["8f3a1c9e2b7d4f60a1b2c3d4e5f60718", "Sup3r-s3cret value!", "A1b2C3d4E5f6G7h8I9j0K1l2m3",
          "xoxb-1234567890-abcdefghijkl"]


@pytest.mark.parametrize("pasted", PASTED)
def test_a_secret_pasted_into_an_env_key_is_never_echoed(tmp_path, pasted):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[slack]\nenabled = true\nmode = "http"\nsigning_secret_env = "{pasted}"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    assert "slack.signing_secret_env" in str(e.value)
    assert pasted not in str(e.value)
    with pytest.raises(ConfigError) as e:  # the same through overrides (no file)
        load_settings(None, slack={"signing_secret_env": pasted})
    assert "signing_secret_env" in str(e.value) and pasted not in str(e.value)
    # and the commands a person runs: neither `check` nor `run` (which would name the variable) shows it
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-000000000000-testtesttest"}
    for cmd in (["check"], ["run"]):
        proc = subprocess.run([sys.executable, "-m", "bot", *cmd, "--config", str(cfg)], capture_output=True,
                              text=True, cwd=ROOT, timeout=120, env=env)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "signing_secret_env" in out
        assert pasted not in out


def test_env_keys_still_take_ordinary_names(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[slack]\nsigning_secret_env = "MY_SLACK_SIGNING"\n[discord]\ntoken_env = "bot_token"\n')
    s = load_settings(cfg)
    assert s.slack.signing_secret_env == "MY_SLACK_SIGNING" and s.discord.token_env == "bot_token"
