"""``ragline index export|import``: move a collection between the Edge shard and a server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ragline.cli_common import ConfigOption, out, progress_bar, settings_from, user_errors

index_app = typer.Typer(no_args_is_help=True,
                        help="Move a collection between the local Edge shard and a Qdrant server.")

UrlOption = Annotated[str, typer.Option("--url", help="Qdrant server URL, e.g. http://host:6333.")]
ApiKeyOption = Annotated[str | None, typer.Option("--api-key", help="Qdrant API key.")]
ToOption = Annotated[str | None, typer.Option(
    "--to", help="Name of the copy (default: the same name).")]
BatchOption = Annotated[int, typer.Option("--batch-size", help="Points per page.")]


def _transfer(config: Path | None, collection: str, url: str, api_key: str | None,
              to: str | None, *, export: bool, batch_size: int) -> None:
    """Copy ``collection`` Edge -> server (``export``) or server -> Edge, with a progress bar."""
    import warnings

    from pydantic import SecretStr
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    from ragline.errors import InvalidInput
    from ragline.models.embedder import embedder_from_settings
    from ragline.rag.index import QdrantIndex
    from ragline.rag.transfer import copy_collection

    settings = settings_from(config)
    embedder = embedder_from_settings(settings.embedder)  # never called: nothing is embedded
    edge = settings.model_copy(update={"index": settings.index.model_copy(
        update={"transport": "edge"})})
    server = settings.model_copy(update={"index": settings.index.model_copy(update={
        "transport": "client", "url": url,
        "api_key": SecretStr(api_key) if api_key else settings.index.api_key})})
    target_name = to or collection
    source_settings, target_settings = (edge, server) if export else (server, edge)
    try:
        with warnings.catch_warnings():  # qdrant-client's version check on an unreachable URL
            warnings.simplefilter("ignore", UserWarning)
            source = QdrantIndex.from_settings(source_settings, embedder=embedder,
                                               collection=collection)
            target = QdrantIndex.from_settings(target_settings, embedder=embedder,
                                               collection=target_name)
        with source, target, progress_bar("copying points") as progress:
            copied = copy_collection(source, target, batch_size=batch_size,
                                     on_progress=progress)
    except (ResponseHandlingException, UnexpectedResponse, ConnectionError) as exc:
        raise InvalidInput(f"cannot use the Qdrant server at {url}: {exc}") from exc
    out.print(f"copied {copied} points from {source.transport.where} ({collection}) "
              f"to {target.transport.where} ({target_name})", highlight=False, markup=False)


@index_app.command("export")
@user_errors
def index_export(collection: Annotated[str, typer.Argument(help="Local collection to copy.")],
                 url: UrlOption, api_key: ApiKeyOption = None, to: ToOption = None,
                 batch_size: BatchOption = 512, config: ConfigOption = None) -> None:
    """Copy a collection from the local Edge shard to a Qdrant server."""
    _transfer(config, collection, url, api_key, to, export=True, batch_size=batch_size)


@index_app.command("import")
@user_errors
def index_import(collection: Annotated[str, typer.Argument(help="Server collection to copy.")],
                 url: UrlOption, api_key: ApiKeyOption = None, to: ToOption = None,
                 batch_size: BatchOption = 512, config: ConfigOption = None) -> None:
    """Copy a collection from a Qdrant server into the local Edge shard."""
    _transfer(config, collection, url, api_key, to, export=False, batch_size=batch_size)


