"""The price catalogue: USD per million tokens for each model, and what a call cost.

Prices come from the shipped ``configs/prices.yaml``. A user file (``cost.prices_file``,
same format) and inline ``cost.price_overrides`` are merged over it in that order, per
model and per field: ``{gpt-4o: {input: 2.0}}`` changes one rate and keeps the others; a
model the catalogue does not know needs at least ``input`` and ``output``.

Arithmetic is exact (:class:`~decimal.Decimal`) from the YAML text on: a prices file is
read with a loader that turns each decimal number into a Decimal from its own digits, never
through a float. A model with no price is *unknown*, and its cost is ``None``, never zero.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from ragline.config import CostSettings, read_yaml
from ragline.errors import ConfigError
from ragline.types import Usage

_PACKAGED_PRICES = Path(__file__).resolve().parents[1] / "_configs" / "prices.yaml"
_SOURCE_PRICES = Path(__file__).resolve().parents[2] / "configs" / "prices.yaml"

_RATES = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
_FIELDS = (*_RATES, "provider", "context_window", "source", "as_of", "aliases")
_MAX_RESOLVED = 4096
_DATED_SNAPSHOT = re.compile(r"^(?P<base>.+?)-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


def default_prices_path() -> Path:
    """Return the shipped ``prices.yaml`` (inside the wheel, or in the source tree)."""
    return _PACKAGED_PRICES if _PACKAGED_PRICES.exists() else _SOURCE_PRICES


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's list prices in USD per million tokens, and where they come from.

    ``cache_write`` is the 5-minute prompt-cache write rate, ``cache_write_1h`` the
    1-hour one; providers that bill no cache writes (OpenAI) have both equal to ``input``.
    """

    name: str
    provider: str
    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal
    context_window: int | None = None
    source: str | None = None
    as_of: date | None = None
    aliases: tuple[str, ...] = ()

    def cost(self, usage: Usage) -> Decimal:
        """Return the exact USD cost of ``usage`` at these rates.

        input x in + output x out + cache reads x read + 5-minute writes x write
        + 1-hour writes x write_1h, over one million; the 5-minute writes are
        ``cache_write_tokens - cache_write_1h_tokens``.
        """
        five_minute = _five_minute_writes(usage)
        micro = (usage.input_tokens * self.input
                 + usage.output_tokens * self.output
                 + usage.cache_read_tokens * self.cache_read
                 + five_minute * self.cache_write
                 + usage.cache_write_1h_tokens * self.cache_write_1h)
        return micro.scaleb(-6)

    def savings(self, usage: Usage) -> Decimal:
        """Return what prompt caching saved against paying full input price for the same tokens.

        Each cache read saves ``input - cache_read``; each cache write costs
        ``cache_write - input`` extra (``cache_write_1h - input`` for 1-hour writes), so
        the result is negative when writes outweighed reads.
        """
        five_minute = _five_minute_writes(usage)
        micro = (usage.cache_read_tokens * (self.input - self.cache_read)
                 - five_minute * (self.cache_write - self.input)
                 - usage.cache_write_1h_tokens * (self.cache_write_1h - self.input))
        return micro.scaleb(-6)


def _five_minute_writes(usage: Usage) -> int:
    five_minute = usage.cache_write_tokens - usage.cache_write_1h_tokens
    if five_minute < 0:
        raise ValueError(
            f"usage has cache_write_1h_tokens={usage.cache_write_1h_tokens} above "
            f"cache_write_tokens={usage.cache_write_tokens}; the 1-hour writes are part of "
            "the cache writes")
    return five_minute


class PriceCatalogue:
    """An immutable set of :class:`ModelPrice` entries, looked up by model name.

    :meth:`lookup` matches case-insensitively: the exact name or an alias first, then the
    name without a provider prefix (``openai/gpt-4o``, ``anthropic:claude-haiku-4-5``), then
    a dated snapshot (``gpt-4o-mini-2024-07-18``) as its base name. It never matches a
    loose prefix, so ``gpt-4o-mini`` is never priced as ``gpt-4o``.
    """

    def __init__(self, prices: Iterable[ModelPrice]) -> None:
        self._by_name: dict[str, ModelPrice] = {}
        for price in prices:
            for name in (price.name, *price.aliases):
                key = name.lower()
                if key in self._by_name:
                    raise ConfigError(f"prices: model name {name!r} is listed twice "
                                      f"({self._by_name[key].name!r} and {price.name!r})")
                self._by_name[key] = price
        self._resolved: dict[str, ModelPrice | None] = {}

    @classmethod
    def load(cls, prices_file: Path | None = None,
             overrides: Mapping[str, Mapping[str, Any]] | None = None) -> PriceCatalogue:
        """Load the shipped prices, then merge ``prices_file`` and ``overrides`` over them.

        Raises :class:`ConfigError` naming the file, model and field of any invalid entry.
        """
        shipped = default_prices_path()
        raw: dict[str, tuple[Mapping[str, Any], str]] = {
            str(name): (fields, str(shipped)) for name, fields in _read_models(shipped).items()
        }
        if prices_file is not None:
            raw = _merge(raw, _read_models(prices_file), str(prices_file))
        if overrides:
            raw = _merge(raw, overrides, "cost.price_overrides")
        return cls(_parse(name, fields, where) for name, (fields, where) in raw.items())

    @classmethod
    def from_settings(cls, cost: CostSettings) -> PriceCatalogue:
        """Load the catalogue that ``cost.prices_file`` and ``cost.price_overrides`` describe."""
        return cls.load(cost.prices_file, cost.price_overrides)

    @property
    def prices(self) -> tuple[ModelPrice, ...]:
        """Every entry once, sorted by name."""
        unique = {price.name: price for price in self._by_name.values()}
        return tuple(unique[name] for name in sorted(unique, key=str.lower))

    def lookup(self, model: str) -> ModelPrice | None:
        """Return the price of ``model``, or None when it is unknown."""
        if model in self._resolved:
            return self._resolved[model]
        found = None
        for candidate in _candidates(model.strip().lower()):
            found = self._by_name.get(candidate)
            if found is not None:
                break
        if len(self._resolved) < _MAX_RESOLVED:  # names come from clients: bound the memo
            self._resolved[model] = found
        return found

    def cost(self, model: str, usage: Usage) -> Decimal | None:
        """Return the exact USD cost of ``usage`` on ``model``; None when the price is unknown."""
        price = self.lookup(model)
        return None if price is None else price.cost(usage)

    def savings(self, model: str, usage: Usage) -> Decimal | None:
        """Return what prompt caching saved on this call (see :meth:`ModelPrice.savings`)."""
        price = self.lookup(model)
        return None if price is None else price.savings(usage)


def _candidates(name: str) -> list[str]:
    """The names to try, most specific first: as given, unprefixed, then each undated."""
    tail = name.rsplit("/", 1)[-1]
    _, colon, rest = tail.partition(":")
    unprefixed = rest if colon and rest and ":" not in rest else tail
    found = [name] if unprefixed == name else [name, unprefixed]
    for candidate in list(found):
        dated = _DATED_SNAPSHOT.match(candidate)
        if dated and dated["base"] not in found:
            found.append(dated["base"])
    return found


class _PriceLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a decimal number is a Decimal of its own text."""


def _decimal_number(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | float:
    """``2.50`` is ``Decimal("2.50")``; the forms Decimal cannot read (``.inf``, ``.nan``,
    sexagesimal ``1:30.5``) stay YAML floats, which :func:`_rate` judges."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        return loader.construct_yaml_float(node)


_PriceLoader.add_constructor("tag:yaml.org,2002:float", _decimal_number)


def _read_models(path: Path) -> dict[str, Any]:
    data = read_yaml(Path(path), what="prices file", loader=_PriceLoader)
    models = data.get("models")
    if not isinstance(models, dict):
        raise ConfigError(f"prices file {path} must hold a mapping `models:` of model name "
                          "to prices, e.g. models: {my-model: {input: 1.0, output: 2.0}}")
    return models


def _merge(raw: Mapping[str, tuple[Mapping[str, Any], str]], layer: Mapping[str, Any],
           where: str) -> dict[str, tuple[Mapping[str, Any], str]]:
    """Merge ``layer`` over ``raw`` per model (matched by name or alias) and per field."""
    merged = dict(raw)
    canonical: dict[str, str] = {}
    for name, (fields, _) in raw.items():
        canonical[name.lower()] = name
        aliases = fields.get("aliases") if isinstance(fields, Mapping) else None
        for alias in aliases if isinstance(aliases, list) else ():
            canonical[str(alias).lower()] = name
    for name, fields in layer.items():
        if not isinstance(fields, Mapping):
            raise ConfigError(f"{where}: model {name!r} must map fields to values, "
                              f"e.g. {{input: 1.0, output: 2.0}}, not {fields!r}")
        target = canonical.get(str(name).lower())
        if target is None:
            merged[str(name)] = (fields, where)
        else:
            base, _ = raw[target]
            merged[target] = ({**(base if isinstance(base, Mapping) else {}), **fields}, where)
    return merged


def _parse(name: str, fields: Any, where: str) -> ModelPrice:
    if not isinstance(fields, Mapping):
        raise ConfigError(f"{where}: model {name!r} must map fields to values, not {fields!r}")
    unknown = sorted(set(fields) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: model {name!r} has unknown field {unknown[0]!r}; "
                          f"known fields: {', '.join(_FIELDS)}")
    for required in ("input", "output"):
        if fields.get(required) is None:
            raise ConfigError(f"{where}: model {name!r} needs field {required!r} "
                              "(USD per million tokens)")
    rates = {rate: _rate(name, rate, fields[rate], where)
             for rate in _RATES if fields.get(rate) is not None}
    rates.setdefault("cache_read", rates["input"])
    rates.setdefault("cache_write", rates["input"])
    rates.setdefault("cache_write_1h", rates["cache_write"])
    return ModelPrice(
        name=str(name),
        provider=_text(name, "provider", fields.get("provider", "custom"), where),
        context_window=_window(name, fields.get("context_window"), where),
        source=None if fields.get("source") is None
        else _text(name, "source", fields["source"], where),
        as_of=_date(name, fields.get("as_of"), where),
        aliases=_aliases(name, fields.get("aliases"), where),
        **rates,
    )


def _rate(name: str, field: str, value: Any, where: str) -> Decimal:
    problem = f"{where}: model {name!r} field {field!r} must be a number of USD per " \
              f"million tokens >= 0, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConfigError(problem)
    try:
        # Decimal from a file's text (_PriceLoader), an int or a string. A float comes only
        # from cost.price_overrides, which the settings loader has already read as a YAML
        # float: its shortest form (repr) is the number as written, its exact binary value
        # is not (0.15 would become 0.1499999999999999944...).
        rate = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation as exc:
        raise ConfigError(problem) from exc
    if not rate.is_finite() or rate < 0:
        raise ConfigError(problem)
    return rate


def _text(name: str, field: str, value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: model {name!r} field {field!r} must be a non-empty "
                          f"string, got {value!r}")
    return value


def _window(name: str, value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: model {name!r} field 'context_window' must be a "
                          f"whole number of tokens > 0, got {value!r}")
    return value


def _date(name: str, value: Any, where: str) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}: model {name!r} field 'as_of' must be a date "
                          f"YYYY-MM-DD, got {value!r}") from exc


def _aliases(name: str, value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise ConfigError(f"{where}: model {name!r} field 'aliases' must be a list of "
                          f"names, got {value!r}")
    return tuple(value)
