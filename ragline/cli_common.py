"""What every ``ragline`` sub-command shares: the consoles, user errors, settings loading.

A user error (any :class:`~ragline.errors.RagLineError`) becomes one red line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from ragline.config import Settings, load_settings
from ragline.errors import RagLineError

P = ParamSpec("P")
R = TypeVar("R")

out = Console()
err = Console(stderr=True)


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a RagLineError into one red line on stderr and exit status 2."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except RagLineError as exc:
            err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from exc

    return run


def settings_from(config: Path | None) -> Settings:
    """Load the settings (offline: no model hub, no loader progress bars of their own)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # model loaders' own progress bars
    return load_settings(config)
