"""ragline: LLM and RAG applications with hybrid retrieval in Qdrant and cited answers.

The main entry points are importable from here; they load on first access so
``import ragline.types`` stays light. Everything else lives in the layered
subpackages (``rag``, ``models``, ``app``) described in docs/.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragline.app.pipeline import RAGPipeline
    from ragline.config import Settings, load_settings
    from ragline.errors import RagLineError
    from ragline.types import Answer, Chunk, Citation, Document, ScoredChunk

__version__ = "0.1.0"

_EXPORTS = {
    "RAGPipeline": "ragline.app.pipeline",
    "Settings": "ragline.config",
    "load_settings": "ragline.config",
    "RagLineError": "ragline.errors",
    "Answer": "ragline.types",
    "Chunk": "ragline.types",
    "Citation": "ragline.types",
    "Document": "ragline.types",
    "ScoredChunk": "ragline.types",
}
__all__ = ["Answer", "Chunk", "Citation", "Document", "RAGPipeline", "RagLineError",
           "ScoredChunk", "Settings", "load_settings"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ragline' has no attribute {name!r}")
