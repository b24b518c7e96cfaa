"""How the e2e tests run the installed ``ragline`` command: one subprocess per call."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.constants import RAGLINE


def run_ragline(args: list[str], cwd: Path, *, check: bool = False, columns: int = 120,
                home: Path | None = None, stdin: str | None = None,
                **env: str) -> subprocess.CompletedProcess[str]:
    """``ragline ARGS`` in ``cwd`` with its home in ``cwd/home`` (or ``home``), offline, at
    ``columns`` wide; ``env`` adds variables. ``check`` raises (with the output) on a
    non-zero exit. ``stdin`` is the text piped in (None: stdin is inherited)."""
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": str(columns),
               "RAGLINE_HOME": str(home or cwd / "home"), **env}
    done = subprocess.run([*RAGLINE, *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=600, input=stdin)
    if check and done.returncode != 0:
        raise AssertionError(f"ragline {args} failed:\n{done.stdout}\n{done.stderr}")
    return done
