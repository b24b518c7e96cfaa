"""One Qdrant Edge shard opened by many: threads of one process share it, other processes wait."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator

import pytest

from ragline.config import Settings
from ragline.errors import IndexBusy
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.index import QdrantIndex
from ragline.types import Chunk

TEXTS = ["Qdrant is a vector database written in Rust.",
         "The cat sat on the warm mat all afternoon.",
         "BM25 ranks documents by term frequency."]

HOLDER = textwrap.dedent("""
    import sys, time
    from ragline.config import load_settings
    from ragline.models.embedder import SentenceTransformerEmbedder
    from ragline.rag.index import QdrantIndex
    settings = load_settings(home=sys.argv[1])
    index = QdrantIndex.from_settings(settings, collection="shared",
                                      embedder=SentenceTransformerEmbedder())
    index.transport.count()  # opens (and locks) the shard
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    index.close()
    print("released", flush=True)
""")


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(index={"transport": "edge", "lock_wait_s": 0.5})


@pytest.fixture
def built(settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[Settings]:
    with QdrantIndex.from_settings(settings, collection="shared", embedder=embedder) as index:
        index.upsert([Chunk.create("doc", text, {}, i) for i, text in enumerate(TEXTS)])
    yield settings


def open_index(settings: Settings, embedder: SentenceTransformerEmbedder) -> QdrantIndex:
    return QdrantIndex.from_settings(settings, collection="shared", embedder=embedder)


def test_two_indexes_of_one_process_share_the_shard(
        built: Settings, embedder: SentenceTransformerEmbedder) -> None:
    writer, reader = open_index(built, embedder), open_index(built, embedder)
    assert reader.search("Which language is Qdrant written in?", k=1)[0].chunk.text == TEXTS[0]
    writer.upsert([Chunk.create("late", "Penguins live in Antarctica.", {}, 0)])
    assert reader.search("Where do penguins live?", k=1, mode="bm25")[0].chunk.doc_id == "late"
    writer.close()  # the reader still holds it open
    assert reader.transport.count() == len(TEXTS) + 1
    reader.close()
    with open_index(built, embedder) as again:  # and it can be opened afresh
        assert again.transport.count() == len(TEXTS) + 1


def test_threads_read_while_one_writes(built: Settings,
                                       embedder: SentenceTransformerEmbedder) -> None:
    errors: list[BaseException] = []
    found: list[int] = []

    def read() -> None:
        try:
            with open_index(built, embedder) as index:
                for _ in range(5):
                    found.append(len(index.search("cat on a mat", k=2, mode="bm25")))
        except BaseException as exc:
            errors.append(exc)

    def write() -> None:
        try:
            with open_index(built, embedder) as index:
                index.upsert([Chunk.create(f"extra-{n}", f"Extra fact number {n}.", {}, 0)
                              for n in range(20)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)] + [threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert found and all(count >= 1 for count in found)
    with open_index(built, embedder) as index:
        assert index.transport.count() == len(TEXTS) + 20


def start_holder(settings: Settings, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings.home), str(seconds)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    return holder


def test_another_process_holding_the_shard_gives_index_busy(
        built: Settings, embedder: SentenceTransformerEmbedder) -> None:
    holder = start_holder(built, 120)
    try:
        with pytest.raises(IndexBusy) as caught:
            open_index(built, embedder).search("cat", k=1)
        message = str(caught.value)
        assert f"pid {holder.pid}" in message
        assert "waited 0.5 s" in message
        assert "index.transport: client" in message and "index.lock_wait_s" in message
        assert caught.value.retryable and caught.value.http_status == 503
    finally:
        holder.kill()
        holder.wait()
    # a holder killed without closing leaves a stale note; the lock died with it
    with open_index(built, embedder) as index:
        assert index.search("cat on a mat", k=1)[0].chunk.text == TEXTS[1]


def test_a_waiting_process_gets_the_shard_once_it_is_released(
        built: Settings, embedder: SentenceTransformerEmbedder) -> None:
    patient = built.model_copy(update={"index": built.index.model_copy(
        update={"lock_wait_s": 120.0})})
    holder = start_holder(built, 1.0)
    try:
        with open_index(patient, embedder) as index:
            assert index.search("cat on a mat", k=1)[0].chunk.text == TEXTS[1]
        assert holder.wait(timeout=60) == 0
    finally:
        holder.kill()
