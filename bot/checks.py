"""``steward check``: playbooks, templates and config, every problem on its own line."""

from __future__ import annotations

from pathlib import Path

from bot.app import check_context, feature_checks, resolve_dir, templates_for
from bot.core.errors import Problem
from bot.engine.loader import load_dir
from bot.settings import Settings


def run_checks(settings: Settings, playbooks: Path | None = None, messages: Path | None = None) -> list[Problem]:
    pdir = Path(playbooks) if playbooks else resolve_dir(settings, settings.playbooks.dir, "playbooks")
    mdir = Path(messages) if messages else resolve_dir(settings, settings.playbooks.messages_dir, "messages")
    templates = templates_for(mdir, settings.community.default_locale)
    problems: list[Problem] = []
    for file, line, msg in templates.check_all():
        problems.append(Problem(file, line, "-", msg))
    result = load_dir(pdir, check_context(settings, templates))
    problems.extend(result.problems)
    for fn in feature_checks():
        problems.extend(fn(settings, result.playbooks))
    return problems
