"""The package keeps the layering of the architecture map: no module imports a higher layer.

cross-cutting (types, errors, config, protocols, text, tokens, redact, offload, prompts)
  < data (rag) < model (models) < accounting (cost) < verification (verify)
  < evaluation (evals) < orchestration (routing) < application (app, integrations, testing)
  < cli
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ragline"
RANK = {"types": 0, "errors": 0, "config": 0, "config_base": 0, "config_env": 0,
        "config_cache": 0, "config_routing": 0, "config_sessions": 0, "config_gateway": 0,
        "protocols": 0,
        "text": 0, "tokens": 0, "redact": 0, "offload": 0, "prompts": 0, "rag": 1,
        "models": 2, "cost": 3, "cache": 3, "verify": 4, "evals": 5, "routing": 6, "app": 7,
        "integrations": 7, "testing": 7, "cli": 8, "cli_eval": 8, "cli_route": 8,
        "cli_common": 8, "cli_index": 8, "cli_costs": 8, "cli_cache": 8, "cli_serve": 8,
        "server": 8, "cli_chat": 8, "cli_keys": 8,
        "__main__": 9, "__init__": 9}


def layer_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # includes lazy imports
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m == "ragline" or m.startswith("ragline.")}


def test_no_module_imports_a_higher_layer() -> None:
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts)
        own = RANK[layer_of(module)]
        for target in imported_modules(path):
            if target != "ragline" and RANK[layer_of(target)] > own:
                violations.append(f"{module} imports {target}")
    assert violations == []


def test_every_package_module_has_a_known_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        assert layer_of(module) in RANK, module
