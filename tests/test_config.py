"""Configuration: defaults, file and env layering, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragline.config import default_config_path, load_settings
from ragline.errors import ConfigError


def test_defaults_load_from_the_shipped_file() -> None:
    settings = load_settings()
    assert default_config_path().name == "default.yaml"
    assert settings.retrieval.mode == "hybrid"
    assert settings.index.transport == "edge"
    assert settings.generation.provider == "local"
    assert settings.home == Path(".ragline")


def test_user_file_merges_over_defaults(tmp_path: Path) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text("retrieval:\n  k: 9\nindex:\n  bm25:\n    k1: 1.5\n")
    settings = load_settings(config)
    assert settings.retrieval.k == 9
    assert settings.retrieval.mode == "hybrid"  # untouched sibling key survives the merge
    assert settings.index.bm25.k1 == 1.5
    assert settings.index.bm25.language == "english"


def test_environment_wins_over_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "mine.yaml"
    config.write_text("retrieval:\n  k: 9\n")
    monkeypatch.setenv("RAGLINE_RETRIEVAL__K", "3")
    monkeypatch.setenv("RAGLINE_HOME", str(tmp_path / "elsewhere"))
    settings = load_settings(config)
    assert settings.retrieval.k == 3
    assert settings.home == tmp_path / "elsewhere"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    config = tmp_path / "typo.yaml"
    config.write_text("retrieval:\n  top_k: 4\n")
    with pytest.raises(ConfigError, match=r"retrieval\.top_k: unknown key"):
        load_settings(config)


def test_bad_value_is_named_with_what_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGLINE_RETRIEVAL__MODE", "fuzzy")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "retrieval.mode" in str(caught.value)
    assert "'fuzzy'" in str(caught.value)


def test_bad_number_is_named(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("chunker:\n  overlap_tokens: -1\n")
    with pytest.raises(ConfigError, match=r"chunker\.overlap_tokens: Input should be greater"):
        load_settings(config)


def test_missing_and_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("retrieval: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_settings(listed)


def test_api_keys_are_secret() -> None:
    settings = load_settings(generation={"api_key": "sk-very-secret"})
    assert "sk-very-secret" not in repr(settings)
    assert settings.generation.api_key is not None
    assert settings.generation.api_key.get_secret_value() == "sk-very-secret"


def test_routing_names_unknown_tiers_and_bad_models() -> None:
    with pytest.raises(ConfigError, match=r"unknown tier\(s\) \['large'\]; the tiers are "
                                          r"\['extractive', 'local'\]"):
        load_settings(routing={"fallback": ["large"]})
    with pytest.raises(ConfigError, match="must be 'extractive' or 'provider:model'"):
        load_settings(routing={"tiers": [{"name": "big", "model": "gpt-4o"}]})
    with pytest.raises(ConfigError, match=r"routing\.tiers"):
        load_settings(routing={"tiers": []})
    settings = load_settings(routing={"tiers": [{"name": "big", "model": "openai:gpt-4o"}]})
    assert settings.routing.model_of("big") == "openai:gpt-4o"
