"""Opening the transport the settings name: an Edge shard under ``home``, or qdrant-client."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from ragline.config import Settings
from ragline.errors import ConfigError, InvalidInput
from ragline.rag.transport import Transport, VectorNames

if TYPE_CHECKING:
    from qdrant_client import QdrantClient


def check_name(name: str) -> str:
    """``name``, if it is a valid collection name (letters, digits, - and _)."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput(f"collection name {name!r} may only hold letters, digits, - and _")
    return name


def open_transport(settings: Settings, name: str,
                   client: QdrantClient | None = None) -> Transport:
    """The transport of collection ``name`` as ``settings.index`` says.

    ``client`` reuses an open ``QdrantClient`` (it needs ``index.transport:
    client``, ignores ``index.url``, and is left open when the transport closes).
    """
    ix = settings.index
    names = VectorNames(ix.dense_vector, ix.sparse_vector)
    if client is not None and ix.transport != "client":
        raise ConfigError("index.transport: must be 'client' to search through a given "
                          f"QdrantClient, but it is {ix.transport!r}")
    if ix.transport == "edge":
        from ragline.rag.edge import EdgeTransport

        return EdgeTransport(Path(settings.home) / "collections" / name,
                             quantize=ix.quantization == "int8", names=names,
                             lock_wait_s=ix.lock_wait_s)
    from ragline.rag.server import ClientTransport

    return ClientTransport(client or _client(settings), name,
                           quantize=ix.quantization == "int8", names=names,
                           close_client=client is None)


def _client(settings: Settings) -> QdrantClient:
    """A new QdrantClient for ``index.url`` (a server URL, or ``:memory:``)."""
    ix = settings.index
    if not ix.url:
        raise ConfigError("index.url: required when index.transport is 'client' "
                          "(a server URL, or ':memory:')")
    from qdrant_client import QdrantClient

    key = ix.api_key.get_secret_value() if ix.api_key else None
    return (QdrantClient(":memory:") if ix.url == ":memory:"
            else QdrantClient(url=ix.url, api_key=key))


def collection_names(settings: Settings, *, exclude: Collection[str] = ()) -> list[str]:
    """The collections the settings reach, sorted, less ``exclude``: the Edge shards under
    ``home/collections/``, or the collections of the Qdrant server at ``index.url`` (a
    ``:memory:`` client starts empty, so it lists none)."""
    if settings.index.transport == "edge":
        root = Path(settings.home) / "collections"
        found = ([d.name for d in root.iterdir() if (d / "shard").is_dir()]
                 if root.is_dir() else [])
    else:
        client = _client(settings)
        try:
            found = [c.name for c in client.get_collections().collections]
        finally:
            client.close()
    return sorted(name for name in found if name not in exclude)
