"""Versioned prompt templates, stored as Jinja2 files in ``ragline/prompts/templates``.

A template ``<name>.v<version>.j2`` defines two macros: ``system()`` — static
instructions, sent first so providers can cache them as a prefix — and
``user(...)`` with the per-request variables. Changing a prompt means adding a
new version file, so runs stay reproducible and comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from ragline.errors import ConfigError
from ragline.types import Message

TEMPLATE_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class PromptTemplate:
    """One loaded template version; :meth:`render` returns the system and user messages."""

    name: str
    version: int
    template: jinja2.Template

    def render(self, **variables: Any) -> tuple[Message, ...]:
        """Render ``system()`` then ``user(**variables)`` into two chat messages."""
        module = self.template.module
        return (Message("system", str(module.system()).strip()),  # type: ignore[attr-defined]
                Message("user", str(module.user(**variables)).strip()))  # type: ignore[attr-defined]


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
                              undefined=jinja2.StrictUndefined, autoescape=False,
                              keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)


def load_prompt(name: str, version: int) -> PromptTemplate:
    """Load ``<name>.v<version>.j2``; a missing one raises :class:`ConfigError`."""
    filename = f"{name}.v{version}.j2"
    try:
        template = _environment().get_template(filename)
    except jinja2.TemplateNotFound as exc:
        available = sorted(p.name for p in TEMPLATE_DIR.glob("*.j2"))
        raise ConfigError(
            f"generation.prompt: no template {filename}; available: {available}") from exc
    return PromptTemplate(name, version, template)
