"""ragline.testing: the examples of docs/testing.md and of its docstring run, and it is cheap.

The kit's behaviour is proved by the suites that use it (tests/models, tests/cost,
tests/routing, tests/app, tests/evals); here the documented examples run as written.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ragline.testing

DOCS = Path(__file__).resolve().parents[1] / "docs" / "testing.md"


def example_tests(source: str) -> dict[str, Callable[..., Any]]:
    """The ``test_*`` functions that ``source`` defines when it runs as a module."""
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(source, "docs_example", "exec"), namespace)
    tests = {name: value for name, value in namespace.items()
             if name.startswith("test_") and callable(value)}
    assert tests, "the example defines no test"
    return tests


def run(test: Callable[..., Any], tmp_path: Path) -> None:
    wanted = inspect.signature(test).parameters
    tmp_path.mkdir(parents=True, exist_ok=True)
    test(**({"tmp_path": tmp_path} if "tmp_path" in wanted else {}))


BLOCKS = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)


def test_the_docs_page_has_examples() -> None:
    assert len(BLOCKS) == 2


@pytest.mark.parametrize("block", [
    pytest.param(BLOCKS[0], id="pipeline", marks=pytest.mark.slow),  # loads MiniLM
    pytest.param(BLOCKS[1], id="server")])
def test_the_docs_examples_pass(block: str, tmp_path: Path) -> None:
    for name, test in example_tests(block).items():
        run(test, tmp_path / name)


def test_the_module_docstring_example_passes(tmp_path: Path) -> None:
    doc = ragline.testing.__doc__ or ""
    example = doc.split("Example (a pytest test)::\n", 1)[1].split("\nThe SDKs and httpx2")[0]
    tests = example_tests(textwrap.dedent(example))
    assert len(tests) == 2
    for test in tests.values():
        run(test, tmp_path)


def test_every_public_name_is_documented() -> None:
    for name in ragline.testing.__all__:
        value = getattr(ragline.testing, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert (value.__doc__ or "").strip(), name
        if inspect.isclass(value):
            for member, attribute in vars(value).items():
                if not member.startswith("_"):
                    assert (attribute.__doc__ or "").strip(), f"{name}.{member}"


def test_importing_the_kit_loads_no_sdk() -> None:
    code = ("import sys, ragline.testing; "
            "print(sorted(m for m in ('openai', 'anthropic', 'httpx2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
