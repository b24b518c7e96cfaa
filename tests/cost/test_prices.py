"""The price catalogue: the shipped prices, lookup rules, overrides, and exact cost maths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragline.config import Settings
from ragline.cost.prices import ModelPrice, PriceCatalogue, default_prices_path
from ragline.errors import ConfigError
from ragline.types import Usage


@pytest.fixture(scope="module")
def catalogue() -> PriceCatalogue:
    return PriceCatalogue.load()


# --- the shipped file ---------------------------------------------------------------------

REQUIRED = [
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini",
    "gpt-5", "gpt-5-mini", "gpt-5-nano", "text-embedding-3-small", "text-embedding-3-large",
    "claude-opus-4-1", "claude-opus-4-5", "claude-sonnet-4", "claude-sonnet-4-5",
    "claude-haiku-4-5", "claude-3-5-haiku", "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", "llama-3.1-8b-instant",
    "llama-3.3-70b-versatile", "SmolLM2-135M-Instruct", "all-MiniLM-L6-v2",
    "cross-encoder/ms-marco-MiniLM-L-6-v2", "extractive",
]


def test_the_shipped_file_is_in_the_source_tree_and_wheel_layout() -> None:
    assert default_prices_path().name == "prices.yaml"
    assert default_prices_path().exists()


@pytest.mark.parametrize("name", REQUIRED)
def test_the_shipped_catalogue_prices_each_required_model(catalogue: PriceCatalogue,
                                                         name: str) -> None:
    price = catalogue.lookup(name)
    assert price is not None and price.name == name
    assert price.source and price.as_of is not None and price.as_of <= date.today()


def test_every_anthropic_price_follows_the_cache_multipliers(catalogue: PriceCatalogue) -> None:
    anthropic = [p for p in catalogue.prices if p.provider == "anthropic"]
    assert len(anthropic) >= 6
    for price in anthropic:
        assert price.cache_write == price.input * Decimal("1.25"), price.name
        assert price.cache_write_1h == price.input * 2, price.name
        assert price.cache_read == price.input / 10, price.name


def test_openai_bills_no_cache_writes_and_discounts_reads(catalogue: PriceCatalogue) -> None:
    openai = [p for p in catalogue.prices if p.provider == "openai"]
    for price in openai:
        assert price.cache_write == price.cache_write_1h == price.input, price.name
        assert price.cache_read <= price.input, price.name


def test_local_models_are_free_but_priced(catalogue: PriceCatalogue) -> None:
    local = [p for p in catalogue.prices if p.provider == "local"]
    assert {p.name for p in local} >= {"SmolLM2-135M-Instruct", "all-MiniLM-L6-v2",
                                       "cross-encoder/ms-marco-MiniLM-L-6-v2", "extractive"}
    for price in local:
        assert price.cost(Usage(input_tokens=5000, output_tokens=100)) == 0
    assert catalogue.cost("extractive", Usage(input_tokens=10)) == Decimal(0)


# --- lookup ---------------------------------------------------------------------------------

@pytest.mark.parametrize("asked, found", [
    ("gpt-4o", "gpt-4o"),
    ("GPT-4o-Mini", "gpt-4o-mini"),
    ("openai/gpt-4o", "gpt-4o"),
    ("anthropic:claude-haiku-4-5", "claude-haiku-4-5"),
    ("openrouter/openai/gpt-4.1-mini", "gpt-4.1-mini"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("anthropic/claude-opus-4-1-20250805", "claude-opus-4-1"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # its own entry wins over the base name
    ("claude-sonnet-4-0", "claude-sonnet-4"),  # an alias
    ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
    ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"),
    ("HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct"),
    ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
])
def test_lookup_matches_exact_unprefixed_and_dated_names(catalogue: PriceCatalogue,
                                                          asked: str, found: str) -> None:
    price = catalogue.lookup(asked)
    assert price is not None and price.name == found


@pytest.mark.parametrize("asked", [
    "gpt-4o-mini-search-preview",  # a longer name is another model, not gpt-4o-mini
    "gpt-4",                       # nor is a shorter one
    "gpt-4o-mini-tts",
    "claude-sonnet",
    "o3-pro",
    "ft:gpt-4o-mini-2024-07-18:acme::abc123",  # fine-tunes have their own prices
    "llama3.1:8b",
    "",
])
def test_lookup_never_matches_a_loose_prefix(catalogue: PriceCatalogue, asked: str) -> None:
    assert catalogue.lookup(asked) is None


def test_gpt_4o_mini_is_never_priced_as_gpt_4o(catalogue: PriceCatalogue) -> None:
    mini = catalogue.lookup("gpt-4o-mini-2024-07-18")
    assert mini is not None and mini.input == Decimal("0.15")


def test_an_unknown_model_has_no_price_and_no_cost(catalogue: PriceCatalogue) -> None:
    usage = Usage(input_tokens=100, output_tokens=10, cache_read_tokens=50)
    assert catalogue.lookup("my-private-model") is None
    assert catalogue.cost("my-private-model", usage) is None
    assert catalogue.savings("my-private-model", usage) is None


# --- exact cost maths -----------------------------------------------------------------------

# (model, usage, expected USD); each worked out by hand from prices.yaml in micro-dollars
COSTS = [
    # gpt-4o-mini 0.15 / 0.60: 1000*0.15 + 200*0.60 = 270
    ("gpt-4o-mini", Usage(1000, 200), "0.00027"),
    # + cached 0.075: 176*0.15 + 7*0.60 + 1024*0.075 = 26.4 + 4.2 + 76.8
    ("gpt-4o-mini", Usage(176, 7, cache_read_tokens=1024), "0.0001074"),
    # OpenAI bills a cache write as input: (100 + 500)*0.15
    ("gpt-4o-mini", Usage(100, 0, cache_write_tokens=500), "0.00009"),
    # gpt-4o 2.50 / 10 / 1.25: 904*2.5 + 300*10 + 4096*1.25 = 2260 + 3000 + 5120
    ("gpt-4o", Usage(904, 300, cache_read_tokens=4096), "0.01038"),
    # gpt-4.1 2 / 8: 2048*2 + 512*8
    ("gpt-4.1", Usage(2048, 512), "0.008192"),
    # gpt-5 1.25 / 10 / 0.125: 952*1.25 + 1500*10 + 2048*0.125 = 1190 + 15000 + 256
    ("gpt-5", Usage(952, 1500, cache_read_tokens=2048), "0.016446"),
    # gpt-5-nano, a million of each: 0.05 + 0.40 + 0.005
    ("gpt-5-nano", Usage(10**6, 10**6, cache_read_tokens=10**6), "0.455"),
    # o4-mini 1.10 / 4.40 / 0.275: 1100 + 4400 + 275
    ("o4-mini", Usage(1000, 1000, cache_read_tokens=1000), "0.005775"),
    # text-embedding-3-small 0.02: 12345*0.02
    ("text-embedding-3-small", Usage(12345), "0.0002469"),
    # claude-sonnet-4-5 3 / 15 / read 0.30 / 5m 3.75 / 1h 6
    # 50*3 + 300*15 + 2000*3.75 (5-minute write) = 150 + 4500 + 7500
    ("claude-sonnet-4-5", Usage(50, 300, cache_write_tokens=2000), "0.01215"),
    # 50*3 + 300*15 + 2000*0.30 (read back) = 150 + 4500 + 600
    ("claude-sonnet-4-5", Usage(50, 300, cache_read_tokens=2000), "0.00525"),
    # 20*3 + 100*15 + 3000*6 (1-hour write) = 60 + 1500 + 18000
    ("claude-sonnet-4-5",
     Usage(20, 100, cache_write_tokens=3000, cache_write_1h_tokens=3000), "0.01956"),
    # claude-haiku-4-5 1 / 5 / 0.10 / 1.25 / 2; 1500 writes of which 1000 for an hour:
    # 100 + 200*5 + 4000*0.1 + 500*1.25 + 1000*2 = 100 + 1000 + 400 + 625 + 2000
    ("claude-haiku-4-5", Usage(100, 200, 4000, 1500, 1000), "0.004125"),
    # claude-opus-4-1 15 / 75: 1000*15 + 500*75
    ("claude-opus-4-1", Usage(1000, 500), "0.0525"),
    # claude-opus-4-5 5 / 25 / 5m 6.25: 300*5 + 800*25 + 1000*6.25 = 1500 + 20000 + 6250
    ("claude-opus-4-5", Usage(300, 800, cache_write_tokens=1000), "0.02775"),
    # claude-opus-4-5 with both lifetimes: 10*5 + 10*25 + 100*0.5 + 100*6.25 + 200*10
    ("claude-opus-4-5", Usage(10, 10, 100, 300, 200), "0.002975"),
    # claude-3-5-haiku 0.80 / 4 / 0.08: 2000*0.8 + 400*4 + 10000*0.08 = 1600 + 1600 + 800
    ("claude-3-5-haiku", Usage(2000, 400, cache_read_tokens=10000), "0.004"),
    # claude-3-5-haiku 1-hour write at 1.60: 1000*1.6
    ("claude-3-5-haiku",
     Usage(0, 0, cache_write_tokens=1000, cache_write_1h_tokens=1000), "0.0016"),
    # groq llama-3.3-70b-versatile 0.59 / 0.79
    ("llama-3.3-70b-versatile", Usage(1000, 1000), "0.00138"),
    # a dated snapshot costs what its base model costs: 100*2.5 + 50*10
    ("gpt-4o-2024-08-06", Usage(100, 50), "0.00075"),
    # the first gpt-4o snapshot has its own price: 100*5 + 50*15
    ("gpt-4o-2024-05-13", Usage(100, 50), "0.00125"),
    ("gpt-4o", Usage(), "0"),
]


@pytest.mark.parametrize("model, usage, expected", COSTS,
                         ids=[f"{n}-{c[0]}" for n, c in enumerate(COSTS)])
def test_cost_is_exact(catalogue: PriceCatalogue, model: str, usage: Usage,
                       expected: str) -> None:
    cost = catalogue.cost(model, usage)
    assert isinstance(cost, Decimal)
    assert cost == Decimal(expected)


# (model, usage, expected savings against full input price)
SAVINGS = [
    # 1024 reads at 0.15 - 0.075
    ("gpt-4o-mini", Usage(176, 7, cache_read_tokens=1024), "0.0000768"),
    # a 5-minute write costs 3.75 - 3 extra per token: -2000*0.75
    ("claude-sonnet-4-5", Usage(50, 300, cache_write_tokens=2000), "-0.0015"),
    # reading it back saves 3 - 0.30 per token: 2000*2.7
    ("claude-sonnet-4-5", Usage(50, 300, cache_read_tokens=2000), "0.0054"),
    # 4000*0.9 - 500*0.25 - 1000*1.0 = 3600 - 125 - 1000
    ("claude-haiku-4-5", Usage(100, 200, 4000, 1500, 1000), "0.002475"),
    ("gpt-4o", Usage(1000, 100), "0"),
    ("SmolLM2-135M-Instruct", Usage(1000, 100, cache_read_tokens=10), "0"),
]


@pytest.mark.parametrize("model, usage, expected", SAVINGS)
def test_savings_compare_with_paying_full_input_price(catalogue: PriceCatalogue, model: str,
                                                      usage: Usage, expected: str) -> None:
    assert catalogue.savings(model, usage) == Decimal(expected)


@settings(max_examples=200, deadline=None)
@given(st.tuples(*[st.integers(0, 10**7)] * 4), st.integers(0, 10**7),
       st.sampled_from(["gpt-4o-mini", "claude-haiku-4-5", "claude-opus-4-5", "gpt-5-nano"]))
def test_cost_equals_rational_arithmetic(counts: tuple[int, int, int, int], one_hour: int,
                                         model: str) -> None:
    catalogue = PriceCatalogue.load()
    price = catalogue.lookup(model)
    assert price is not None
    fresh, output, read, five_minute = counts
    usage = Usage(fresh, output, read, five_minute + one_hour, one_hour)
    expected = (fresh * Fraction(price.input) + output * Fraction(price.output)
                + read * Fraction(price.cache_read) + five_minute * Fraction(price.cache_write)
                + one_hour * Fraction(price.cache_write_1h)) / 10**6
    cost = catalogue.cost(model, usage)
    assert cost is not None and Fraction(cost) == expected


def test_one_hour_writes_cannot_exceed_all_writes(catalogue: PriceCatalogue) -> None:
    with pytest.raises(ValueError, match="cache_write_1h_tokens"):
        catalogue.cost("claude-haiku-4-5",
                       Usage(cache_write_tokens=10, cache_write_1h_tokens=11))


# --- overrides --------------------------------------------------------------------------

def test_an_override_changes_one_field_and_keeps_the_others() -> None:
    catalogue = PriceCatalogue.load(overrides={"GPT-4o": {"input": 2.0}})
    price = catalogue.lookup("gpt-4o")
    assert price is not None
    assert (price.input, price.output, price.cache_read) == (
        Decimal("2.0"), Decimal("10.00"), Decimal("1.25"))
    assert price.provider == "openai" and price.context_window == 128000


def test_an_override_through_an_alias_changes_the_model_itself() -> None:
    catalogue = PriceCatalogue.load(overrides={"claude-sonnet-4-0": {"output": 14}})
    price = catalogue.lookup("claude-sonnet-4")
    assert price is not None and price.output == 14
    assert catalogue.lookup("claude-sonnet-4-0") is price


def test_a_new_model_needs_input_and_output_and_defaults_its_cache_rates() -> None:
    catalogue = PriceCatalogue.load(overrides={"my-model": {"input": "0.5", "output": 1}})
    price = catalogue.lookup("my-model")
    assert price == ModelPrice(name="my-model", provider="custom", input=Decimal("0.5"),
                               output=Decimal(1), cache_read=Decimal("0.5"),
                               cache_write=Decimal("0.5"), cache_write_1h=Decimal("0.5"))
    with pytest.raises(ConfigError, match=r"'other-model'.*'output'"):
        PriceCatalogue.load(overrides={"other-model": {"input": 1}})


def test_a_local_model_can_be_given_a_price() -> None:
    catalogue = PriceCatalogue.load(
        overrides={"SmolLM2-135M-Instruct": {"input": 0.02, "output": 0.02}})
    assert catalogue.cost("SmolLM2-135M-Instruct", Usage(10**6, 10**6)) == Decimal("0.04")


def test_a_prices_file_is_merged_and_inline_overrides_win(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  gpt-4o: {input: 3, output: 12}\n"
                      "  house-model: {provider: vllm, input: 0.1, output: 0.2}\n")
    catalogue = PriceCatalogue.load(prices, {"gpt-4o": {"output": 11}})
    gpt = catalogue.lookup("gpt-4o")
    house = catalogue.lookup("house-model")
    assert gpt is not None and (gpt.input, gpt.output) == (Decimal(3), Decimal(11))
    assert house is not None and house.provider == "vllm"
    assert catalogue.lookup("gpt-4.1") is not None  # the shipped rest is still there


def test_the_catalogue_is_built_from_settings(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(cost={"price_overrides": {"gpt-4o": {"input": 1}}})
    price = PriceCatalogue.from_settings(settings.cost).lookup("gpt-4o")
    assert price is not None and price.input == 1


@pytest.mark.parametrize("fields, field", [
    ({"input": -1}, "input"),
    ({"output": "cheap"}, "output"),
    ({"cache_read": True}, "cache_read"),
    ({"cache_write": float("nan")}, "cache_write"),
    ({"context_window": 0}, "context_window"),
    ({"as_of": "last week"}, "as_of"),
    ({"aliases": "gpt"}, "aliases"),
    ({"provider": ""}, "provider"),
    ({"inputs": 1}, "inputs"),
])
def test_an_invalid_override_names_the_model_and_the_field(fields: dict[str, object],
                                                           field: str) -> None:
    with pytest.raises(ConfigError) as error:
        PriceCatalogue.load(overrides={"gpt-4o": fields})
    assert "'gpt-4o'" in str(error.value) and repr(field) in str(error.value)
    assert "cost.price_overrides" in str(error.value)


def test_an_override_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError, match="'gpt-4o' must map fields"):
        PriceCatalogue.load(overrides={"gpt-4o": 2.5})  # type: ignore[dict-item]


def test_a_name_listed_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="listed twice"):
        PriceCatalogue.load(overrides={"my-model": {"input": 1, "output": 1,
                                                    "aliases": ["gpt-4o"]}})


@pytest.mark.parametrize("content, message", [
    ("models: [gpt-4o]", "must hold a mapping `models:`"),
    ("gpt-4o: {input: 1, output: 2}", "must hold a mapping `models:`"),
    ("models: {gpt-4o: {input: [1, 2}", "not valid YAML"),
])
def test_an_invalid_prices_file_is_a_config_error(tmp_path: Path, content: str,
                                                  message: str) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(content)
    with pytest.raises(ConfigError, match=message):
        PriceCatalogue.load(prices)


def test_a_missing_prices_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        PriceCatalogue.load(tmp_path / "nope.yaml")


# --- exact from the text ------------------------------------------------------------------

def test_a_prices_file_is_read_as_decimals_of_its_own_digits(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    # 17 significant digits and a 1_000 separator: a float would change the first
    prices.write_text("models:\n  house-model:\n    input: 0.12345678901234567\n"
                      "    output: 1_000.5\n    cache_read: 1.0e-3\n")
    price = PriceCatalogue.load(prices).lookup("house-model")
    assert price is not None
    assert (price.input, price.output, price.cache_read) == (
        Decimal("0.12345678901234567"), Decimal("1000.5"), Decimal("0.001"))
    assert all(isinstance(rate, Decimal) for rate in (price.input, price.output))
    shipped = PriceCatalogue.load().lookup("gpt-4o-mini")
    assert shipped is not None and str(shipped.cache_read) == "0.075"  # as written


@pytest.mark.parametrize("value", [".inf", ".nan", "-1.5"])
def test_a_prices_file_number_that_is_no_price_is_refused(tmp_path: Path, value: str) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(f"models:\n  house-model: {{input: {value}, output: 1}}\n")
    with pytest.raises(ConfigError, match=r"'house-model' field 'input'"):
        PriceCatalogue.load(prices)


def test_a_float_override_is_taken_at_its_shortest_form() -> None:
    price = PriceCatalogue.load(overrides={"my-model": {"input": 0.15, "output": 0.1 + 0.2}}
                                ).lookup("my-model")
    assert price is not None
    assert (price.input, price.output) == (Decimal("0.15"), Decimal("0.30000000000000004"))
