"""Who a gateway request is for: tokens from either header, keyless requests when the
config allows them, and how long an authenticated key is trusted."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ragline.config import load_settings
from ragline.errors import AuthenticationRequired
from ragline.server.gateway import Gateway, bearer_token
from ragline.server.state import ServerState


@pytest.fixture
def open_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    opened: list[tuple[ServerState, Gateway]] = []

    def build(**gateway: object) -> Gateway:
        settings = load_settings(home=str(tmp_path / "home"), gateway=gateway,
                                 cost={"tenant": "house"})
        state = ServerState(settings)
        opened.append((state, Gateway(state)))
        return opened[-1][1]

    yield build
    for state, gateway in opened:
        gateway.close()
        state.close()


@pytest.mark.unit
def test_the_token_comes_from_either_header() -> None:
    assert bearer_token("Bearer rl-abc-def", None) == "rl-abc-def"
    assert bearer_token("bearer  rl-abc-def ", None) == "rl-abc-def"
    assert bearer_token(None, "rl-abc-def") == "rl-abc-def"
    assert bearer_token("Bearer other", "rl-abc-def") == "rl-abc-def"  # x-api-key wins
    assert bearer_token(None, None) is None


def test_keyless_requests_are_the_house_tenant_unless_keys_are_required(
        open_gateway: Callable[..., Gateway]) -> None:
    lenient = open_gateway(require_keys=False)
    assert lenient.caller(None, None).tenant == "house"
    assert lenient.caller(None, None).key is None
    with pytest.raises(AuthenticationRequired):
        lenient.caller("Bearer rl-000000000000-wrong", None)  # a bad key is never waved on
    strict = open_gateway(require_keys=True)
    with pytest.raises(AuthenticationRequired):
        strict.caller(None, None)


def test_an_authenticated_key_is_trusted_for_key_cache_s(
        open_gateway: Callable[..., Gateway]) -> None:
    gateway = open_gateway(require_keys=True, key_cache_s=0.3)
    key, token = gateway.keys.create("ci", "acme")
    assert gateway.caller(f"Bearer {token}", None).key == key
    gateway.keys.revoke(key.id)
    assert gateway.caller(None, token).tenant == "acme"  # still trusted for a moment
    time.sleep(0.4)
    with pytest.raises(AuthenticationRequired):
        gateway.caller(None, token)

    every_time = open_gateway(require_keys=True, key_cache_s=0)
    other, secret = every_time.keys.create("ops", "acme")
    assert every_time.caller(None, secret).key == other
    every_time.keys.revoke(other.id)
    with pytest.raises(AuthenticationRequired):
        every_time.caller(None, secret)
