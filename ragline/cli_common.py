"""What every ``ragline`` sub-command shares: consoles, user errors, settings, progress.

A user error (any :class:`~ragline.errors.RagLineError`) becomes one red line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragline.config import Settings, load_settings
from ragline.errors import RagLineError

P = ParamSpec("P")
R = TypeVar("R")

out = Console()
err = Console(stderr=True)
ConfigOption = Annotated[Path | None,
                         typer.Option("--config", help="YAML merged over the defaults.")]


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


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar on stderr; the block gets ``update(done, total)``."""
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
