"""`steward run` starts, and SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.conftest import ROOT


def test_sigterm_exits_cleanly(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "s.db"}"\n[community]\nname = "T"\n')
    proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(cfg)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Steward is running" in line:
            break
    assert any("Steward is running" in ln for ln in lines), "".join(lines)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + out
    assert "stopping: finishing in-flight sends" in out
