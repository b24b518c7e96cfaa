"""``ragline serve`` over HTTP: a live server (tests/server/conftest.py), a real client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.server.conftest import (
    ANSWER,
    LICENCE,
    QDRANT,
    SLOW_WORDS,
    Live,
    Upstream,
    ask,
    error_of,
    serving,
    sse_events,
)

pytestmark = pytest.mark.model  # the pipelines load the real embedder


def new_session(live: Live, collection: str | None = None) -> str:
    body = {} if collection is None else {"collection": collection}
    response = live.client.post("/api/sessions", json=body)
    assert response.status_code == 201, response.text
    session_id: str = response.json()["id"]
    return session_id


def test_health_and_readiness(live: Live) -> None:
    assert live.client.get("/health").json() == {"status": "ok"}
    ready = live.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "collection": "default",
                            "collection_exists": True}


def test_collections_are_listed_without_the_answer_cache(live: Live) -> None:
    listed = live.client.get("/api/collections").json()
    assert listed["default"] == "default" and "default" in listed["collections"]
    assert listed["collections"] == sorted(listed["collections"])
    assert "semantic-cache" not in listed["collections"]


def test_a_server_whose_ledger_is_unreachable_is_alive_but_not_ready(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("unready") / "home"
    with serving(home, Upstream(), ingest=False,
                 cost={"ledger_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"}) as down:
        assert down.client.get("/health").status_code == 200
        ready = down.client.get("/ready")
        assert ready.status_code == 503, ready.text
        body = ready.json()
        assert body["status"] == "unavailable" and body["error"]["message"]


def test_a_turn_streams_deltas_then_the_cited_answer_and_a_follow_up(live: Live) -> None:
    session_id = new_session(live)
    events = ask(live.client, session_id, "What is Qdrant?")
    names = [name for name, _ in events]
    assert names[-1] == "answer" and set(names[:-1]) == {"delta"}
    assert "".join(data["text"] for name, data in events[:-1]) == ANSWER
    answer = events[-1][1]
    assert answer["text"] == ANSWER and answer["query_id"]
    (citation,) = answer["citations"]
    source = answer["sources"][0]
    assert citation["marker"] == 1 and citation["chunk_id"] == source["chunk_id"]
    assert {"chunk_id", "doc_id", "text", "score"} <= set(source)
    assert QDRANT in "".join(s["text"] for s in answer["sources"])
    assert answer["route"] and "total" in answer["timings"] and answer["cost"]["calls"] >= 1

    follow_up = ask(live.client, session_id, "Which licence is it under?")
    assert follow_up[-1][0] == "answer"
    condensed = [b for b in live.upstream_bodies() if "Follow-up question" in str(b)]
    assert condensed, "the follow-up was condensed from the history"
    session = live.client.get(f"/api/sessions/{session_id}").json()
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"] * 2
    assert session["messages"][2]["content"] == "Which licence is it under?"
    assert session["title"] == "What is Qdrant?" and session["collection"] == "default"
    kept = session["messages"][1]["answer"]  # a reopened session shows its sources
    assert kept["citations"] == answer["citations"] and kept["route"] == answer["route"]
    assert "answer" not in session["messages"][0]


def test_sessions_are_listed_newest_first_and_deleted(live: Live) -> None:
    first, second = new_session(live), new_session(live)
    listed = [s["id"] for s in live.client.get("/api/sessions").json()["sessions"]]
    assert listed.index(second) < listed.index(first)
    assert live.client.delete(f"/api/sessions/{first}").json() == {"deleted": first}
    assert first not in [s["id"] for s in live.client.get("/api/sessions").json()["sessions"]]
    assert error_of(live.client.get(f"/api/sessions/{first}"), 404)["type"] == "SessionNotFound"
    error_of(live.client.delete(f"/api/sessions/{first}"), 404)


def test_a_cited_passage_is_read_by_chunk_id(live: Live) -> None:
    events = ask(live.client, new_session(live), "What is Qdrant?")
    chunk_id = events[-1][1]["citations"][0]["chunk_id"]
    passage = live.client.get(f"/api/passages/{chunk_id}").json()
    assert passage["chunk_id"] == chunk_id and QDRANT in passage["text"]
    assert passage["collection"] == "default" and passage["metadata"]["source"]
    assert passage["before"] == "" and LICENCE in passage["after"]  # its document around it
    error_of(live.client.get(f"/api/passages/{'0' * 40}"), 404)
    error_of(live.client.get("/api/passages/not-an-id"), 404)
    assert error_of(live.client.get(f"/api/passages/{chunk_id}", params={
        "collection": "nowhere"}), 404)["type"] == "CollectionNotFound"


def test_an_uploaded_file_is_ingested_and_asked_about(live: Live) -> None:
    cats = b"# Cats\n\nCats sleep for most of the day, often sixteen hours.\n"
    response = live.client.post("/api/ingest", params={"collection": "pets"},
                                files={"file": ("cats.md", cats)})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["collection"] == "pets" and report["new_documents"] == 1
    assert (live.home / "uploads" / "pets" / "cats.md").read_bytes() == cats
    events = ask(live.client, new_session(live, "pets"), "How long do cats sleep?")
    assert "sixteen hours" in events[-1][1]["sources"][0]["text"]
    too_big = live.client.post("/api/ingest", files={"file": ("big.txt", b"x" * 100_000)})
    assert error_of(too_big, 413)["type"] == "PayloadTooLarge"
    error_of(live.client.post("/api/ingest", data={"nothing": "here"}), 400)
    error_of(live.client.post("/api/ingest", files={"file": (".env", b"A=1")}), 400)


def test_bad_requests_get_json_errors(live: Live) -> None:
    client = live.client
    session_id = new_session(live)
    bad_json = client.post(f"/api/sessions/{session_id}/messages", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert error_of(bad_json, 400)["type"] == "InvalidRequest"
    error_of(client.post(f"/api/sessions/{session_id}/messages", json={}), 400)
    empty = client.post(f"/api/sessions/{session_id}/messages", json={"message": "   "})
    assert error_of(empty, 400)["type"] == "InvalidInput"
    unknown = client.post("/api/sessions/nope/messages", json={"message": "Hi?"})
    assert error_of(unknown, 404)["type"] == "SessionNotFound"
    assert error_of(client.post("/api/sessions", json={"collection": "nowhere"}),
                    404)["type"] == "CollectionNotFound"
    error_of(client.post("/api/sessions", json={"collection": "../etc"}), 400)
    error_of(client.get("/no/such/route"), 404)
    error_of(client.post("/api/sessions", content=b"x" * (2 * 1024 * 1024),
                         headers={"content-type": "application/json"}), 413)

    def chunked(total: int) -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"message": "'
        for _ in range(total // 65536):
            yield b"y" * 65536
        yield b'"}'

    too_long = client.post(f"/api/sessions/{session_id}/messages", content=chunked(2 << 20),
                           headers={"content-type": "application/json"})
    assert error_of(too_long, 413)["type"] == "PayloadTooLarge"
    def chunked_upload(total: int) -> Iterator[bytes]:
        yield (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.txt"'
               b"\r\nContent-Type: text/plain\r\n\r\n")
        for _ in range(total // 65536):
            yield b"z" * 65536
        yield b"\r\n--xyz--\r\n"

    upload = client.post("/api/ingest", content=chunked_upload(1 << 20), headers={
        "content-type": "multipart/form-data; boundary=xyz"})
    assert error_of(upload, 413)["type"] == "PayloadTooLarge"


def test_a_bad_request_does_not_disturb_a_concurrent_good_one(live: Live) -> None:
    session_id = new_session(live)

    def good() -> list[tuple[str, Any]]:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            return ask(client, session_id, "What is Qdrant?")

    def bad() -> int:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            return client.post(f"/api/sessions/{session_id}/messages", content=b"{",
                               headers={"content-type": "application/json"}).status_code

    with ThreadPoolExecutor(4) as pool:
        goods = [pool.submit(good) for _ in range(2)]
        bads = [pool.submit(bad) for _ in range(4)]
        assert [b.result() for b in bads] == [400] * 4
        assert all(g.result()[-1][1]["text"] == ANSWER for g in goods)


def test_a_client_that_goes_away_stops_generation(live: Live) -> None:
    session_id = new_session(live)
    with httpx.Client(base_url=live.url, timeout=60) as client, client.stream(
            "POST", f"/api/sessions/{session_id}/messages",
            json={"message": "Tell me about Qdrant SLOWLY"}) as response:
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))  # the first delta
        started = time.monotonic()
        # meanwhile another request is served at once
        assert live.client.get("/health").status_code == 200
        assert time.monotonic() - started < 1.0
    (slow,) = live.upstream.slow
    assert slow.closed.wait(10), "the upstream stream was not closed"
    assert slow.sent < len(SLOW_WORDS)
    time.sleep(0.2)
    session = live.client.get(f"/api/sessions/{session_id}").json()
    assert session["messages"] == []  # a turn closed early records nothing
    assert threading.active_count() < 50


def test_shutting_down_lets_a_running_answer_finish(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    words = [f"word{n} " for n in range(6)]  # 1.8 s of answer, within the 5 s of grace
    received: list[str] = []
    with serving(tmp_path_factory.mktemp("drain") / "home", Upstream(words)) as live:
        session_id = new_session(live)

        def listen() -> None:
            with httpx.Client(base_url=live.url, timeout=30) as client, client.stream(
                    "POST", f"/api/sessions/{session_id}/messages",
                    json={"message": "Tell me about Qdrant SLOWLY"}) as response:
                received.extend(name for name, _ in sse_events(response))

        listener = threading.Thread(target=listen)
        listener.start()
        deadline = time.monotonic() + 30
        while not live.upstream.slow or live.upstream.slow[0].sent < 2:
            assert time.monotonic() < deadline, "the answer did not start"
            time.sleep(0.05)
    # leaving the block asked the server to stop while the answer was streaming
    listener.join(30)
    assert received.count("delta") == len(words) and received[-1] == "answer"
