"""Token counts per model: tiktoken for OpenAI-family models, the model's own tokenizer
for local ones."""

from __future__ import annotations

from ragline.tokens import encoding_name_for_model, get_encoding

_LOCAL_MODEL_PREFIXES = ("smollm2",)


def count_tokens(text: str, model: str = "gpt-4o") -> int:
    """Count the tokens ``text`` takes for ``model``.

    Local models (``SmolLM2-...``) use their own tokenizer; every other model
    uses its tiktoken encoding (for non-OpenAI hosted models this is an
    estimate: their tokenizers are not public).
    """
    if model.lower().startswith(_LOCAL_MODEL_PREFIXES):
        from ragline.models.local import load_local_tokenizer

        return len(load_local_tokenizer().encode(text, add_special_tokens=False))
    return len(get_encoding(encoding_name_for_model(model)).encode(text, disallowed_special=()))
