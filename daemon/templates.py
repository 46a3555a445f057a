"""Reading the reply templates: the shipped ones, and the freelancer's own over them.

rules.replies renders from the sources read here and touches no file itself.
"""

from __future__ import annotations

from pathlib import Path

from rules.model import Policy
from rules.replies import (
    SHIPPED_TEMPLATES,
    TEMPLATE_NAMES,
    Templates,
    template_problems,
    unknown_template_names,
)


class TemplatesError(Exception):
    """The freelancer's templates folder cannot be read."""


def _read(path: Path) -> tuple[str, str]:
    return path.read_text(encoding="utf-8"), str(path)


def load_templates(template_dir: Path | None = None) -> Templates:
    """The shipped templates, each replaced by the freelancer's file of the same name."""
    sources = {name: _read(SHIPPED_TEMPLATES / name) for name in TEMPLATE_NAMES}
    if template_dir is not None:
        if not template_dir.is_dir():
            raise TemplatesError(f"{template_dir}: templates folder does not exist")
        for name in TEMPLATE_NAMES:
            own = template_dir / name
            if own.is_file():
                try:
                    sources[name] = _read(own)
                except (OSError, UnicodeDecodeError) as exc:
                    raise TemplatesError(f"{own}: cannot be read ({exc})") from None
    return Templates(sources)


def check_templates(template_dir: Path | None, policy: Policy | None = None) -> list[str]:
    """Every problem with the templates in use, for `frontdesk check`."""
    try:
        templates = load_templates(template_dir)
    except TemplatesError as exc:
        return [str(exc)]
    problems = []
    if template_dir is not None:
        names = sorted(p.name for p in template_dir.iterdir() if p.is_file())
        problems += [f"{template_dir}/{problem}" for problem in unknown_template_names(names)]
    return problems + template_problems(templates, policy)
