"""Where the shared material lives: ``$STEWARD_SHARED_DIR``, the ``shared/`` folder beside the
repository, or ``/work/shared``; API descriptions fall back to the copies in ``tests/specs``."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path | None:
    for cand in (os.environ.get("STEWARD_SHARED_DIR"), ROOT.parent / "shared", "/work/shared"):
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


def spec(name: str) -> Path:
    d = shared_dir()
    if d is not None and (d / "specs" / name).is_file():
        return d / "specs" / name
    return ROOT / "tests" / "specs" / name


def ubuntu_export() -> Path:
    d = shared_dir()
    return (d or ROOT.parent / "shared") / "data" / "ubuntu-irc-dev"
