"""What every ``ragline`` sub-command shares: consoles, user errors, settings, progress.

A user error (any :class:`~ragline.errors.RagLineError`) becomes one red line on
stderr and exit status 2, never a traceback; no secret is ever printed (see
:mod:`ragline.redact`).
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.exceptions import TyperException

from ragline.config import Settings, load_settings
from ragline.errors import RagLineError
from ragline.redact import redact
from ragline.types import QueryCost, ScoredChunk

P = ParamSpec("P")
R = TypeVar("R")

out = Console()
err = Console(stderr=True)
_debug = False
ConfigOption = Annotated[Path | None,
                         typer.Option("--config", help="YAML merged over the defaults.")]


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a RagLineError or an OSError into one red line on stderr and exit status 2.

    The line is the error's message, redacted (no API key reaches the terminal) and
    printed as plain text (a ``[...]`` in it is not taken for rich markup). Any other
    exception is a bug: its traceback, chained upstream errors included, is printed
    redacted and the exit status is 1. typer's own exits and usage errors pass through.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except RagLineError as exc:
            raise _user_error(exc, str(exc)) from exc
        except OSError as exc:  # the file system refused a path: the user's to fix
            raise _user_error(exc, _os_error_message(exc)) from exc
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except Exception as exc:
            _print_traceback(exc)
            raise typer.Exit(1) from exc

    return run


def set_debug(on: bool) -> None:
    """``--debug``: user errors show their traceback too (redacted, like everything)."""
    global _debug
    _debug = on


def _print_traceback(exc: BaseException) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    sys.stderr.flush()


def _user_error(exc: BaseException, message: str) -> typer.Exit:
    """Print ``message`` as one red line (after the traceback with ``--debug``); exit 2."""
    if _debug:
        _print_traceback(exc)
    err.print(f"[red]error:[/red] {escape(redact(message))}", markup=True, highlight=False)
    return typer.Exit(2)


def _os_error_message(exc: OSError) -> str:
    """``cannot use /proc/nope: No such file or directory`` and where to look."""
    where = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or str(exc)
    return (f"cannot use {where}: {reason}; check that the path exists and that you may write "
            "there (ragline keeps its data under `home`, set by RAGLINE_HOME); --debug shows "
            "where it happened")


def settings_from(config: Path | None) -> Settings:
    """Load the settings (offline: no model hub, no loader progress bars of their own).

    The command, not the library, sets these, through environment variables because no
    API reaches the libraries before they are imported (lazily, later) and each reads its
    variable once, at import; a value the user set is kept:
    HF_HUB_OFFLINE (huggingface_hub: never the network, also for calls ragline does not
    make itself), TQDM_DISABLE (tqdm: the model loaders' own progress bars) and
    TRANSFORMERS_VERBOSITY (transformers: errors only, no warnings between answers).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
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


def shown_path(source: str) -> str:
    """``source`` relative to the working directory when it lies below it."""
    try:
        return str(Path(source).relative_to(Path.cwd()))
    except ValueError:
        return source


def source_line(number: int, item: ScoredChunk) -> str:
    """``[n] path p.3 § Heading > Sub  (score 0.812)``: where a numbered source comes from."""
    meta = item.chunk.metadata
    heading = " > ".join(meta.get("heading_path") or [])
    place = f"{shown_path(str(meta.get('source', item.chunk.doc_id)))}"
    if meta.get("page"):
        place += f" p.{meta['page']}"
    if heading:
        place += f" § {heading}"
    return f"[{number}] {place}  (score {item.score:.3f})"


def cost_line(cost: QueryCost) -> str:
    """``cost: $0.000123 (generate $0.00012, embed $0)`` — unknown prices say so."""
    def usd(value: float | None) -> str:
        return "unknown" if value is None else f"${value:.6g}"

    stages = ", ".join(f"{stage} {usd(value)}" for stage, value in cost.by_stage.items())
    unpriced = f"; no price for {', '.join(cost.unpriced)}" if cost.unpriced else ""
    return f"cost: {usd(cost.total_usd)} ({stages}){unpriced}"
