"""Test data that more than one test module uses, defined once.

Import it as ``from tests.constants import NAME`` (``pythonpath`` in pyproject.toml puts the
repository root on ``sys.path``). It is a plain module, not a conftest: pytest imports each
conftest.py under the bare name ``conftest``, so importing a constant from one by name picks up
whichever conftest was loaded last; fixtures stay in the conftest files.
"""

from __future__ import annotations

import sys

# An OpenAI ``usage`` object with a prompt-cache hit: ragline reads it as
# Usage(input_tokens=176, output_tokens=7, cache_read_tokens=1024).
OPENAI_USAGE = {"prompt_tokens": 1200, "completion_tokens": 7, "total_tokens": 1207,
                "prompt_tokens_details": {"cached_tokens": 1024}}

# Secrets that redaction must find: two with a provider's shape, one with none.
OPENAI_KEY = "sk-proj-" + "Xq7vB2nR" * 6 + "w9Zk"
ANTHROPIC_KEY = "sk-ant-api03-" + "Lm4pQ8sT_v" * 9 + "AbCd"
PLAIN_KEY = "gw" + "5e0c9a" * 6  # a gateway key with no recognisable shape

# The `ragline` command, run from this checkout's interpreter (the e2e tests).
RAGLINE = [sys.executable, "-m", "ragline"]

# A small corpus by document id: two passages about Qdrant, two about pets, one about BM25.
FACTS = {
    "qdrant": ["Qdrant is a vector database written in Rust.",
               "Qdrant supports sparse vectors for keyword search."],
    "pets": ["The cat sat on the warm mat all afternoon.",
             "Dogs need a walk twice a day."],
    "bm25": ["BM25 ranks documents by term frequency and inverse document frequency."],
}
