"""``ragline keys create|list|revoke``: the API keys of the gateway (see docs/server.md).

Registered on the main app in :mod:`ragline.cli`. ``create`` prints a key's token once;
nothing prints a secret or a hash again.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.measure import Measurement
from rich.table import Table

from ragline.cli_common import ConfigOption, out, settings_from, user_errors
from ragline.server.keys import ApiKey, KeyStore

keys_app = typer.Typer(no_args_is_help=True,
                       help="Create, list and revoke the API keys of the gateway.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
STORE_IT_NOW = "Store it now: it cannot be shown again (only its hash is kept)."
CAPTION = "models, collections: all = any; rpm, tpm: requests, tokens per minute; times UTC"


def key_json(key: ApiKey) -> dict[str, Any]:
    """A key as ``--json`` prints it: every field, times in ISO 8601 UTC, never a secret."""
    return {"id": key.id, "name": key.name, "tenant": key.tenant, "models": list(key.models),
            "collections": list(key.collections), "rpm": key.rpm, "tpm": key.tpm,
            "created_at": key.created_at.isoformat(),
            "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat()}


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _cells(key: ApiKey, joiner: str) -> dict[str, str]:
    """A key's shown fields by column, never its secret; an empty list of models or
    collections reads ``all``, a missing limit ``-``; ``joiner`` separates listed names."""
    return {"id": key.id, "name": key.name, "tenant": key.tenant,
            "models": joiner.join(key.models) or "all",
            "collections": joiner.join(key.collections) or "all",
            "rpm": "-" if key.rpm is None else f"{key.rpm:,}",
            "tpm": "-" if key.tpm is None else f"{key.tpm:,}",
            "created": _when(key.created_at), "revoked": _when(key.revoked_at)}


def _print_keys(keys: tuple[ApiKey, ...]) -> None:
    """A table, one row per key, when it fits the console; else one block of
    ``label: value`` lines per key (a narrow terminal never cuts a column off)."""
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), caption=CAPTION)
    rows = [_cells(key, "\n") for key in keys]
    for header in rows[0]:
        table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*row.values())
    unbounded = out.options.update_width(1_000_000)  # the table's natural width
    if Measurement.get(out, unbounded, table).maximum <= out.width:
        out.print(table)
        return
    for key in keys:
        cells = _cells(key, ", ")
        out.print()
        out.print(cells.pop("id"), style="bold", highlight=False, markup=False)
        for label, value in cells.items():
            out.print(f"  {label}: {value}", overflow="fold", highlight=False, markup=False)
    out.print()
    out.print(CAPTION, style="dim", highlight=False, markup=False)


@keys_app.command("create")
@user_errors
def keys_create(
        tenant: Annotated[str, typer.Option(help="Tenant the key's calls are charged to.")],
        name: Annotated[str | None, typer.Option(
            help="A label for the key (default: the tenant).")] = None,
        model: Annotated[list[str] | None, typer.Option(
            "--model", help="A model the key may call, or a pattern (openai:*, "
                            "ragline/rag/*); repeat it; none: every model.")] = None,
        collection: Annotated[list[str] | None, typer.Option(
            "--collection", help="A collection the key may use, or a pattern; repeat it; "
                                 "none: every collection.")] = None,
        rpm: Annotated[int | None, typer.Option(help="Requests per minute at most.")] = None,
        tpm: Annotated[int | None, typer.Option(help="Tokens per minute at most.")] = None,
        as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """Make an API key and print its token, once: store it then, it cannot be shown again."""
    with KeyStore.from_settings(settings_from(config)) as store:
        key, token = store.create(tenant if name is None else name, tenant, models=model or (),
                                  collections=collection or (), rpm=rpm, tpm=tpm)
    if as_json:
        sys.stdout.write(json.dumps({**key_json(key), "token": token}) + "\n")
        return
    out.print(f"created API key {key.id} ({key.name}) for tenant {key.tenant}",
              highlight=False, markup=False)
    out.print(token, highlight=False, markup=False, soft_wrap=True)
    out.print(STORE_IT_NOW, style="bold yellow", highlight=False, markup=False)


@keys_app.command("list")
@user_errors
def keys_list(include_revoked: Annotated[bool, typer.Option(
                  "--all", help="Show revoked keys too.")] = False,
              as_json: JsonOption = False, config: ConfigOption = None) -> None:
    """List the API keys (never their secrets): the working ones, or with --all every one."""
    with KeyStore.from_settings(settings_from(config)) as store:
        keys = store.list(include_revoked=include_revoked)
    if as_json:
        sys.stdout.write(json.dumps([key_json(key) for key in keys]) + "\n")
    elif not keys:
        out.print("no API keys" + ("" if include_revoked else " (--all shows revoked ones)")
                  + "; `ragline keys create --tenant NAME` makes one", highlight=False,
                  markup=False)
    else:
        _print_keys(keys)


@keys_app.command("revoke")
@user_errors
def keys_revoke(key_id: Annotated[str, typer.Argument(
                    metavar="ID", help="The id of the key (`ragline keys list` shows it).")],
                config: ConfigOption = None) -> None:
    """Revoke an API key for good: its token authenticates nothing from now on."""
    with KeyStore.from_settings(settings_from(config)) as store:
        key = store.revoke(key_id)
    out.print(f"revoked API key {key.id} ({key.name}, tenant {key.tenant}) at "
              f"{_when(key.revoked_at)}", highlight=False, markup=False)
