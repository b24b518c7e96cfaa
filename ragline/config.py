"""Typed settings, loaded from ``configs/default.yaml``, a user file and the environment.

Precedence, lowest first: the shipped default file, the file given with
``--config`` (a partial YAML deep-merged over the defaults), then ``RAGLINE_*``
environment variables (``RAGLINE_RETRIEVAL__K=8``; ``RAGLINE_HOME``). Every
section forbids unknown keys, so a misspelt key fails at start-up with a
:class:`~ragline.errors.ConfigError` that names it.
"""

from __future__ import annotations

import logging
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from ragline.config_base import Section
from ragline.config_cache import CacheSettings
from ragline.config_env import setting_variables, unknown_variables, variable_of, variables_under
from ragline.config_gateway import GatewaySettings
from ragline.config_routing import RoutingSettings
from ragline.config_sessions import SessionsSettings
from ragline.errors import ConfigError, RagLineError
from ragline.redact import redact, register_secret
from ragline.types import AnswerStyle, ChunkerKind, SearchMode

log = logging.getLogger(__name__)
_PACKAGED_DEFAULTS = Path(__file__).parent / "_configs" / "default.yaml"
_SOURCE_DEFAULTS = Path(__file__).parent.parent / "configs" / "default.yaml"


_RAGLINE_PAYLOAD_KEYS = ("chunk_id", "doc_id", "position", "bm25_len")




class EmbedderSettings(Section):
    """Which sentence-transformers model embeds chunks and queries."""

    model: str
    batch_size: int = Field(gt=0)
    device: str


class ChunkerSettings(Section):
    """Which chunker splits documents, and its sizes in tokens of ``encoding``."""

    kind: ChunkerKind
    size_tokens: int = Field(gt=8)
    overlap_tokens: int = Field(ge=0)
    encoding: str
    min_tokens: int = Field(ge=0)
    breakpoint: Literal["percentile", "stddev", "iqr"]
    breakpoint_threshold: float | None


class IngestSettings(Section):
    """How ingest parallelises (file-loading processes, embed/write batches) and the
    largest file it reads (``max_file_mb``; larger files are skipped with a reason)."""

    workers: int = Field(ge=1)
    batch_size: int = Field(gt=0)
    queue_depth: int = Field(gt=0)
    max_file_mb: float = Field(gt=0)


class Bm25Settings(Section):
    """BM25 parameters of the sparse vectors stored beside the dense ones."""

    language: str
    k1: float = Field(ge=0)
    b: float = Field(ge=0, le=1)
    avg_len_tolerance: float = Field(gt=0, lt=1)


class FeedbackSettings(Section):
    """Pseudo-relevance feedback of hybrid search (``docs`` 0 turns it off).

    A first fused query finds the ``docs`` best chunks; the query vector plus
    ``weight`` times their mean dense vector (renormalised) is searched again.
    """

    docs: int = Field(ge=0, le=20)
    weight: float = Field(gt=0)


class IndexSettings(Section):
    """Where the Qdrant index lives, how hybrid queries are fused, and how points are laid out.

    ``dense_vector`` ``""`` is Qdrant's unnamed vector; ``sparse_vector`` None means
    the collection has no sparse vector (dense search only). ``text_key`` and
    ``metadata_key`` are top-level payload keys, e.g. LangChain's ``page_content``
    and ``metadata``.
    """

    transport: Literal["edge", "client"]
    lock_wait_s: float = Field(ge=0)
    url: str | None
    api_key: SecretStr | None
    quantization: Literal["int8", "none"]
    candidates: int = Field(gt=0)
    dense_candidates: int | None = Field(gt=0)
    bm25_candidates: int | None = Field(gt=0)
    fusion: Literal["rrf", "dbsf", "convex"]
    rrf_k: int = Field(gt=0)
    weights: tuple[float, float] | None
    bm25_saturation: float = Field(gt=0)
    feedback: FeedbackSettings
    bm25: Bm25Settings
    dense_vector: str
    sparse_vector: str | None = Field(min_length=1)
    text_key: str = Field(min_length=1)
    metadata_key: str = Field(min_length=1)

    @model_validator(mode="after")
    def _weights_need_rrf(self) -> IndexSettings:
        if self.weights is not None:
            if self.fusion == "dbsf":
                raise ValueError("weights apply to fusion 'rrf' and 'convex', not 'dbsf'")
            if min(self.weights) < 0 or max(self.weights) <= 0:
                raise ValueError("weights must be >= 0 with at least one > 0")
        return self

    @field_validator("text_key", "metadata_key")
    @classmethod
    def _top_level_payload_key(cls, key: str) -> str:
        if "." in key:
            raise ValueError("must be a top-level payload key, without '.'")
        if key in _RAGLINE_PAYLOAD_KEYS:
            raise ValueError(f"{key!r} is one of ragline's own payload keys "
                             f"{list(_RAGLINE_PAYLOAD_KEYS)}")
        return key

    @model_validator(mode="after")
    def _distinct_names(self) -> IndexSettings:
        if self.text_key == self.metadata_key:
            raise ValueError("text_key and metadata_key must differ")
        if self.sparse_vector == self.dense_vector:
            raise ValueError("dense_vector and sparse_vector must differ")
        return self


class RetrievalSettings(Section):
    """How many chunks to retrieve and with which search mode."""

    k: int = Field(gt=0)
    mode: SearchMode


class RerankSettings(Section):
    """The cross-encoder that reorders retrieved chunks, when one is available offline."""

    model: str | None
    candidates: int = Field(gt=0)


class ContextSettings(Section):
    """Token budget of the packed, numbered context."""

    max_tokens: int = Field(gt=0)


class GenerationSettings(Section):
    """The answering model, its fallback and the support check between them."""

    provider: Literal["local", "extractive", "openai", "anthropic", "openai_compatible",
                      "routed"]
    model: str
    max_tokens: int = Field(gt=0)
    temperature: float = Field(ge=0, le=2)
    answer_style: AnswerStyle
    abstain: Literal["calibrated", "off"]
    abstain_threshold: float = Field(ge=0, le=1)
    base_url: str | None
    api_key: SecretStr | None
    fallback: Literal["extractive", "none"]
    min_support: float = Field(ge=0, le=1)
    prompt: str
    prompt_version: int = Field(gt=0)
    timeout_s: float = Field(gt=0)
    max_retries: int = Field(ge=0, le=10)
    deadline_s: float = Field(gt=0)
    max_question_chars: int = Field(gt=0)
    verify: Literal["offline", "none"]


class CostSettings(Section):
    """Where model calls are recorded and how they are priced."""

    ledger_url: str | None = Field(min_length=1)
    prices_file: Path | None
    price_overrides: dict[str, dict[str, Any]]
    tenant: str = Field(min_length=1)


class BudgetLimit(Section):
    """One spending limit: dollars and/or tokens per day or month for a tenant or API key.

    ``usd`` is exact (:class:`~decimal.Decimal`): budgets compare it with the ledger's
    nano-dollar counters. A number read from YAML comes as a float and is taken at its
    shortest decimal form (``0.1`` is ``Decimal("0.1")``); an environment value is read
    from its text.
    """

    scope: Literal["tenant", "api_key"]
    key: str = Field(min_length=1)
    period: Literal["day", "month"]
    usd: Decimal | None = Field(default=None, gt=0)
    tokens: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _has_a_limit(self) -> BudgetLimit:
        if self.usd is None and self.tokens is None:
            raise ValueError("a budget limit needs usd, tokens, or both")
        return self


class BudgetSettings(Section):
    """Spending limits and what happens when one is reached."""

    on_exceed: Literal["reject", "downgrade"]
    downgrade_to: str = Field(min_length=1)
    limits: tuple[BudgetLimit, ...]


class Settings(BaseSettings):
    """All of ragline's configuration; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="RAGLINE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    home: Path
    collection: str = Field(min_length=1)
    embedder: EmbedderSettings
    chunker: ChunkerSettings
    ingest: IngestSettings
    index: IndexSettings
    retrieval: RetrievalSettings
    rerank: RerankSettings
    context: ContextSettings
    generation: GenerationSettings
    cost: CostSettings
    budgets: BudgetSettings
    routing: RoutingSettings
    cache: CacheSettings
    sessions: SessionsSettings
    gateway: GatewaySettings

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


def read_yaml(path: Path, *, what: str = "config file", error: type[RagLineError] = ConfigError,
              loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> dict[str, Any]:
    """The mapping YAML file ``path`` holds (``{}`` when empty): ragline's one YAML reader.

    Raises ``error`` naming ``what`` and ``path`` when the file is missing, unreadable, not
    YAML or not a mapping; ``loader`` is :class:`yaml.SafeLoader` or a subclass of it."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except FileNotFoundError as exc:
        raise error(f"{what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise error(f"{what} {path} cannot be read: {reason}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} {path} must hold a mapping of keys, not {type(data).__name__}")
    return data


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_SECRET_KEY = re.compile(r"(?:^|_)(?:api_key|password|secret|token)$")


def _describe(error: ValidationError, source: str) -> str:
    """The message of a failed validation: one line per bad key, never a secret's value
    (a secret key's input is described by its type only; the rest is redacted)."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(root)"
        variable = variable_of(item["loc"], os.environ)
        if variable is not None:
            key = f"{key} ({variable})"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        elif item["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        elif any(_SECRET_KEY.search(str(part)) for part in item["loc"]):
            got = type(item.get("input")).__name__
            lines.append(f"  {key}: {item['msg']} (got a {got}; secret values are not shown)")
        else:
            lines.append(f"  {key}: {item['msg']} (got {redact(repr(item.get('input')))})")
    return f"invalid configuration ({source}):\n" + "\n".join(lines)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings: defaults, then ``config_file``, then ``overrides``, then ``RAGLINE_*``.

    ``overrides`` is a nested mapping merged last among the files, e.g.
    ``load_settings(retrieval={"k": 3})``. Raises :class:`ConfigError` naming
    every bad or unknown key.
    """
    data = read_yaml(default_config_path())
    sources = [str(default_config_path())]
    if config_file is not None:
        data = _deep_merge(data, read_yaml(config_file))
        sources.append(str(config_file))
    data = _deep_merge(data, overrides)
    for name, close in unknown_variables(os.environ, setting_variables(Settings)):
        log.warning("%s matches no setting and is ignored%s", name,
                    f"; did you mean {close}?" if close else "")
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, " + ".join(sources) + " + RAGLINE_* env")) from None
    except SettingsError as exc:  # a section or list variable that is not JSON
        section = re.search(r'field "(\w+)"', str(exc))
        names = variables_under(section.group(1), os.environ) if section else []
        raise ConfigError(
            f"environment variable {' / '.join(names) or 'RAGLINE_*'} cannot be read: a "
            "section or a list set from the environment must be JSON, e.g. "
            "RAGLINE_ROUTING__FALLBACK='[\"large\"]'; or set one key at a time, e.g. "
            "RAGLINE_RETRIEVAL__K=8") from None
    register_secret(settings.generation.api_key)  # masked in every message from now on
    register_secret(settings.index.api_key)
    return settings
