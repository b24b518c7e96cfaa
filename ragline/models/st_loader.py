"""Loading sentence-transformers models (embedders and cross-encoders) strictly offline."""

from __future__ import annotations

from typing import Any, Literal

from ragline.errors import ProviderError, ProviderNotInstalled

_PROVIDER = "sentence_transformers"


def load_offline(kind: Literal["SentenceTransformer", "CrossEncoder"], path: str, *,
                 needed_for: str, what: str, fix: str, **options: Any) -> Any:
    """A sentence-transformers ``kind`` model loaded from ``path`` with no network access.

    ``options`` go to the model's constructor (``device``, ``max_length``...).
    Raises :class:`~ragline.errors.ProviderNotInstalled` ("``needed_for`` needs
    sentence-transformers") without the package, and
    :class:`~ragline.errors.ProviderError` ("cannot load ``what`` offline:
    ``fix``") when the model is neither a local folder nor in the Hugging Face cache.
    """
    try:
        import sentence_transformers
    except ImportError as exc:
        raise ProviderNotInstalled(
            f"{needed_for} needs sentence-transformers: pip install 'ragline[local]'",
            provider=_PROVIDER, model=path) from exc
    try:  # local_files_only: never the network, and no process-wide HF_HUB_OFFLINE
        return getattr(sentence_transformers, kind)(path, local_files_only=True, **options)
    except (OSError, ValueError) as exc:
        raise ProviderError(f"cannot load {what} {path!r} offline: {fix}",
                            provider=_PROVIDER, model=path) from exc
