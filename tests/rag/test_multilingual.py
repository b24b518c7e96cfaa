"""Text beyond English in a real index, on both transports: BM25 and hybrid find each script.

The corpus has Chinese, Japanese, Korean, French stored decomposed (NFD, as some editors and
PDF extractors write it), Russian, Greek and Arabic, each beside a distractor in the same
script that shares words or characters with it.
"""
# ruff: noqa: RUF001 - Greek capitals and full-width punctuation are the point here

from __future__ import annotations

import unicodedata

import pytest
import qdrant_edge as qe

from ragline.config import Settings
from ragline.errors import ConfigError
from ragline.models.embedder import SentenceTransformerEmbedder
from ragline.rag.bm25 import SparseVector
from ragline.rag.index import QdrantIndex
from ragline.rag.transport import StoredPoint
from ragline.types import Chunk, SearchMode, point_id_for

CORPUS = {
    "zh-panda": "大熊猫是中国特有的动物，主要生活在四川的竹林里。",
    "zh-wall": "长城是中国古代的军事防御工程，全长两万多公里。",
    "ja-fuji": "富士山は日本で一番高い山です。",
    "ja-tokyo": "東京は日本の首都で、とても大きな都市です。",
    "ko-kimchi": "김치는 배추와 고춧가루로 만든 한국의 전통 음식입니다.",
    "ko-seoul": "서울은 한국의 수도이며 가장 큰 도시입니다.",
    "fr-cafe": unicodedata.normalize("NFD", "Le café au lait se boit le matin à Paris."),
    "fr-the": "Le thé vert se boit l'après-midi à Lyon.",
    "ru-moscow": "Москва — столица России и крупнейший город страны.",
    "ru-river": "Волга — самая длинная река Европы.",
    "el-athens": "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "el-sea": "Το Αιγαίο πέλαγος βρέχει τις ακτές της Ελλάδας.",
    "ar-cairo": "القاهرة هي عاصمة مصر وأكبر مدنها.",
    "ar-nile": "نهر النيل هو أطول نهر في أفريقيا.",
    "en-bamboo": "Giant pandas live in mountain forests and eat bamboo.",
}
QUERIES = {
    "熊猫": "zh-panda",
    "长城": "zh-wall",
    "富士山": "ja-fuji",
    "東京の首都": "ja-tokyo",
    "김치": "ko-kimchi",
    "서울은": "ko-seoul",
    unicodedata.normalize("NFC", "café"): "fr-cafe",
    unicodedata.normalize("NFD", "café au lait"): "fr-cafe",
    "Москва": "ru-moscow",
    "Αθήνα": "el-athens",
    "القاهرة": "ar-cairo",
}


def chunks() -> list[Chunk]:
    return [Chunk.create(doc_id, text, {"lang": doc_id[:2]}, 0) for doc_id, text in CORPUS.items()]


@pytest.fixture
def index(transport_settings: Settings, embedder: SentenceTransformerEmbedder) -> QdrantIndex:
    idx = QdrantIndex.from_settings(transport_settings, collection="scripts", embedder=embedder)
    idx.upsert(chunks())
    return idx


def misses(index: QdrantIndex, mode: SearchMode) -> dict[str, list[str]]:
    """Queries whose document is not the top hit, with what came back instead."""
    found = {q: [h.chunk.doc_id for h in index.search(q, k=3, mode=mode)] for q in QUERIES}
    return {q: got for q, got in found.items() if not got or got[0] != QUERIES[q]}


@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_each_script_is_found_by_its_query(index: QdrantIndex, mode: SearchMode) -> None:
    assert misses(index, mode) == {}


def test_bm25_finds_only_the_texts_that_share_a_bigram(index: QdrantIndex) -> None:
    assert [h.chunk.doc_id for h in index.search("熊猫", k=5, mode="bm25")] == ["zh-panda"]
    assert [h.chunk.doc_id for h in index.search("日本", k=5, mode="bm25")] in (
        ["ja-fuji", "ja-tokyo"], ["ja-tokyo", "ja-fuji"])


def test_a_collection_from_the_older_tokeniser_is_re_encoded_when_opened(
        index: QdrantIndex) -> None:
    """A collection written before NFC and bigrams: BM25 vectors and lengths rebuilt on open."""
    meta = index.metadata()
    current = meta["bm25"]
    fresh_total = meta["total_len"]
    # Rewrite the collection as the older tokeniser left it: raw text to Qdrant's model,
    # lengths counted the same way, and no tokenizer in the recorded identity.
    old = qe.Bm25(qe.Bm25Config(k=1.2, b=0.75, avg_len=meta["avg_len"], language="english"))
    counter = qe.Bm25(qe.Bm25Config(k=1.2, b=0.0, language="english"))
    points = [p for page in index.transport.points(64) for p in page]
    old_lens = {p.id: sum(round(w * 1.2 / (2.2 - w)) for w in
                          counter.embed_document(p.payload["text"]).values) for p in points}
    vectors = {p.id: old.embed_document(p.payload["text"]) for p in points}
    index.transport.upsert([
        StoredPoint(p.id, p.dense, SparseVector(list(vectors[p.id].indices),
                                                list(vectors[p.id].values)),
                    {**p.payload, "bm25_len": old_lens[p.id]}) for p in points])
    legacy = {k: v for k, v in current.items() if k != "tokenizer"}
    index.transport.write_meta({**meta, "bm25": legacy, "total_len": sum(old_lens.values())})
    assert sum(old_lens.values()) < fresh_total  # whole CJK runs counted as one word each
    assert index.search("熊猫", k=3, mode="bm25") == []  # cached metadata: still the old vectors

    index.forget_metadata()  # as a fresh process opening the collection would
    assert index.search("熊猫", k=3, mode="bm25")[0].chunk.doc_id == "zh-panda"
    assert misses(index, "bm25") == {}
    after = index.metadata()
    assert after["bm25"] == current and after["dirty"] is False
    assert after["total_len"] == fresh_total and after["points"] == len(CORPUS)
    stored = index.transport.payloads([point_id_for(c.id) for c in chunks()], ["bm25_len"])
    assert sum(p["bm25_len"] for p in stored.values()) == fresh_total


def test_an_older_tokeniser_with_other_settings_is_still_refused(index: QdrantIndex) -> None:
    meta = index.metadata()
    legacy = {k: v for k, v in meta["bm25"].items() if k != "tokenizer"}
    index.transport.write_meta({**meta, "bm25": {**legacy, "language": "french"}})
    index.forget_metadata()
    with pytest.raises(ConfigError, match=r"index\.bm25: collection 'scripts' was built with"):
        index.search("熊猫", k=3, mode="bm25")
    assert index.transport.read_meta()["bm25"]["language"] == "french"  # left as it was
