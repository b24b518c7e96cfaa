"""Typed settings, loaded from ``configs/default.yaml``, a user file and the environment.

Precedence, lowest first: the shipped default file, the file given with
``--config`` (a partial YAML deep-merged over the defaults), then ``RAGLINE_*``
environment variables (``RAGLINE_RETRIEVAL__K=8``; ``RAGLINE_HOME``). Every
section forbids unknown keys, so a misspelt key fails at start-up with a
:class:`~ragline.errors.ConfigError` that names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ragline.errors import ConfigError

_PACKAGED_DEFAULTS = Path(__file__).parent / "_configs" / "default.yaml"
_SOURCE_DEFAULTS = Path(__file__).parent.parent / "configs" / "default.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbedderSettings(_Section):
    """Which sentence-transformers model embeds chunks and queries."""

    model: str
    batch_size: int = Field(gt=0)
    device: str


class ChunkerSettings(_Section):
    """Which chunker splits documents, and its sizes in tokens of ``encoding``."""

    kind: Literal["recursive", "semantic"]
    size_tokens: int = Field(gt=8)
    overlap_tokens: int = Field(ge=0)
    encoding: str
    min_tokens: int = Field(ge=0)
    breakpoint: Literal["percentile", "stddev", "iqr"]
    breakpoint_threshold: float | None


class Bm25Settings(_Section):
    """BM25 parameters of the sparse vectors stored beside the dense ones."""

    language: str
    k1: float = Field(ge=0)
    b: float = Field(ge=0, le=1)
    avg_len_tolerance: float = Field(gt=0, lt=1)


class IndexSettings(_Section):
    """Where the Qdrant index lives and how hybrid queries are fused."""

    transport: Literal["edge", "client"]
    url: str | None
    api_key: SecretStr | None
    quantization: Literal["int8", "none"]
    candidates: int = Field(gt=0)
    dense_candidates: int | None = Field(gt=0)
    bm25_candidates: int | None = Field(gt=0)
    fusion: Literal["rrf", "dbsf"]
    rrf_k: int = Field(gt=0)
    weights: tuple[float, float] | None
    bm25: Bm25Settings

    @model_validator(mode="after")
    def _weights_need_rrf(self) -> IndexSettings:
        if self.weights is not None:
            if self.fusion != "rrf":
                raise ValueError("weights apply to fusion 'rrf' only")
            if min(self.weights) < 0 or max(self.weights) <= 0:
                raise ValueError("weights must be >= 0 with at least one > 0")
        return self


class RetrievalSettings(_Section):
    """How many chunks to retrieve and with which search mode."""

    k: int = Field(gt=0)
    mode: Literal["dense", "bm25", "hybrid"]


class RerankSettings(_Section):
    """The cross-encoder that reorders retrieved chunks, when one is available offline."""

    model: str | None
    candidates: int = Field(gt=0)


class ContextSettings(_Section):
    """Token budget of the packed, numbered context."""

    max_tokens: int = Field(gt=0)


class GenerationSettings(_Section):
    """The answering model, its fallback and the support check between them."""

    provider: Literal["local", "extractive", "openai", "anthropic", "openai_compatible"]
    model: str
    max_tokens: int = Field(gt=0)
    temperature: float = Field(ge=0, le=2)
    base_url: str | None
    api_key: SecretStr | None
    fallback: Literal["extractive", "none"]
    min_support: float = Field(ge=0, le=1)
    prompt: str
    prompt_version: int = Field(gt=0)


class Settings(BaseSettings):
    """All of ragline's configuration; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="RAGLINE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    home: Path
    collection: str = Field(min_length=1)
    embedder: EmbedderSettings
    chunker: ChunkerSettings
    index: IndexSettings
    retrieval: RetrievalSettings
    rerank: RerankSettings
    context: ContextSettings
    generation: GenerationSettings

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment variables win over the merged YAML files passed as init values."""
        return (env_settings, init_settings)


def default_config_path() -> Path:
    """Return the shipped ``default.yaml`` (inside the wheel, or in the source tree)."""
    return _PACKAGED_DEFAULTS if _PACKAGED_DEFAULTS.exists() else _SOURCE_DEFAULTS


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of keys, not {type(data).__name__}")
    return data


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(root)"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        elif item["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        else:
            lines.append(f"  {key}: {item['msg']} (got {item.get('input')!r})")
    return f"invalid configuration ({source}):\n" + "\n".join(lines)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings: defaults, then ``config_file``, then ``overrides``, then ``RAGLINE_*``.

    ``overrides`` is a nested mapping merged last among the files, e.g.
    ``load_settings(retrieval={"k": 3})``. Raises :class:`ConfigError` naming
    every bad or unknown key.
    """
    data = _read_yaml(default_config_path())
    sources = [str(default_config_path())]
    if config_file is not None:
        data = _deep_merge(data, _read_yaml(config_file))
        sources.append(str(config_file))
    data = _deep_merge(data, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, " + ".join(sources) + " + RAGLINE_* env")) from exc
