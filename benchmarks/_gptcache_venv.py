"""GPTCache for the semantic-cache benchmark, in a virtualenv of its own.

GPTCache is a peer measured side by side, never a dependency of ragline: on first use
the benchmark creates ``<bench cache>/gptcache-venv`` (outside the repository), installs
the pinned versions below there, and runs ``_gptcache_scores.py`` with that venv's
python, exchanging ``.npy`` files through a temporary folder. When the venv cannot be
made (no network, no wheel), :func:`gptcache_python` raises :class:`Unavailable` and the
benchmark prints ``skipped: GPTCache ...``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _common import run_checked

PINS = ("gptcache==0.1.44", "faiss-cpu==1.15.1")
"""What the venv holds: GPTCache and the Faiss its default vector store uses."""
HELPER = Path(__file__).resolve().parent / "_gptcache_scores.py"


class Unavailable(RuntimeError):
    """GPTCache could not be installed or run."""


def _run(command: list[str], timeout_s: float) -> str:
    return run_checked(command, timeout_s, Unavailable)


def gptcache_python(cache: Path) -> Path:
    """The python of the GPTCache venv under ``cache``, created and installed on first use.

    A stamp file records the pins installed, so changing :data:`PINS` reinstalls.
    """
    venv = cache / "gptcache-venv"
    python = venv / "bin" / "python"
    stamp = venv / "ragline-pins.txt"
    if python.exists() and stamp.exists() and stamp.read_text() == "\n".join(PINS):
        return python
    print(f"... installing {' '.join(PINS)} into {venv} (once)", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(venv)], 300)
    _run([str(python), "-m", "pip", "install", "--quiet", *PINS], 900)
    stamp.write_text("\n".join(PINS))
    return python


def _helper(python: Path, mode: str, arrays: dict[str, np.ndarray],
            result: str | None, timeout_s: float) -> tuple[dict[str, Any], np.ndarray | None]:
    """Run the helper in ``mode`` on ``arrays``; its JSON line and ``result`` array."""
    with tempfile.TemporaryDirectory(prefix="ragline-gptcache-") as tmp:
        folder = Path(tmp)
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", array)
        out = _run([str(python), str(HELPER), mode, str(folder)], timeout_s)
        try:
            info: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError) as exc:
            raise Unavailable(f"unreadable helper output: {out[-200:]!r}") from exc
        return info, (np.load(folder / f"{result}.npy") if result else None)


def gptcache_ranks(python: Path, stored: np.ndarray,
                   query: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """GPTCache's rank (SearchDistanceEvaluation) of each (stored, query) pair, and info."""
    info, ranks = _helper(python, "score", {"stored": stored, "query": query}, "ranks", 1800)
    assert ranks is not None
    return ranks, info


def gptcache_latency(python: Path, entries: np.ndarray, queries: np.ndarray,
                     sizes: list[int]) -> dict[str, Any]:
    """p50/p99 ms of GPTCache's vector lookup at each size (``info["sizes"]``)."""
    info, _ = _helper(python, "latency", {"entries": entries, "queries": queries,
                                          "sizes": np.array(sizes)}, None, 1800)
    return info
