"""Masks secrets in every text ragline shows or stores: errors, log lines, ledger rows.

:func:`redact` is the one redaction step. It masks

* the secrets known at run time: every ``SecretStr`` setting
  :func:`~ragline.config.load_settings` loaded (``generation.api_key``,
  ``index.api_key``), anything passed to :func:`register_secret`, and the values
  of the environment variables providers read (``OPENAI_API_KEY``,
  ``ANTHROPIC_API_KEY``, ``ANTHROPIC_AUTH_TOKEN``, ``HF_TOKEN``... and any variable
  whose name ends in ``_API_KEY``, ``_SECRET``, ``_AUTH_TOKEN``...), read at each call;
* key-shaped strings, whoever's they are: provider keys by their documented
  prefixes (``sk-``, ``sk-ant-``, ``sk-proj-``, ``hf_``, ``ghp_``, ``AIza``,
  ``AKIA``...), a token after ``Bearer`` or after a label such as ``api_key=``,
  ``x-api-key:``, ``Authorization:``, ``token=``, ``password=``, and the password of
  a URL (``postgresql://user:pw@host``).

A key with a known prefix keeps the prefix and its last four characters
(``sk-proj-...abcd``), so the user can tell which key it was; anything else
becomes ``[redacted]``. Bare hex or base64 strings (sha256 chunk ids, UUIDs,
numbers) are left alone unless registered: only labelled or prefixed tokens with a
digit in them count as key-shaped.

Importing this module also puts a redacting step in front of every handler that
sees a record of the ``ragline`` logger hierarchy (see :class:`RedactingFilter`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

MIN_SECRET_CHARS = 8
"""Shorter values are never registered: masking ``unused`` everywhere would mangle text."""

MASK = "[redacted]"
"""What a secret without a known prefix becomes."""

PROVIDER_ENV = ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "OPENAI_WEBHOOK_SECRET",
                "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_WEBHOOK_SIGNING_KEY",
                "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "QDRANT_API_KEY",
                "RAGLINE_GENERATION__API_KEY", "RAGLINE_INDEX__API_KEY")
"""Environment variables whose values are always masked (the provider SDKs read them)."""

_SECRET_ENV_SUFFIXES = ("_API_KEY", "_SECRET", "_SECRET_KEY", "_AUTH_TOKEN", "_ACCESS_TOKEN",
                        "_PASSWORD")

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_compiled: tuple[frozenset[str], re.Pattern[str] | None] = (frozenset(), None)

_NOT_KEY_CHAR = r"(?<![A-Za-z0-9_-])"
_PREFIXED = re.compile(
    _NOT_KEY_CHAR + r"(?:"
    r"(?P<sk>sk-(?:ant-|proj-|svcacct-|admin-)?)(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}"
    r"|(?P<hf>hf_)[A-Za-z0-9]{30,}"
    r"|(?P<gh>gh[pousr]_|github_pat_)[A-Za-z0-9_]{36,}"
    r"|(?P<google>AIza)[0-9A-Za-z_-]{35}"
    r"|(?P<slack>xox[abpr]-)[A-Za-z0-9-]{10,}"
    r"|(?P<aws>AKIA)[0-9A-Z]{16}"
    r")(?![A-Za-z0-9_-])")
_TOKEN = r"(?=[A-Za-z0-9+/_.~=-]*\d)[A-Za-z0-9+/_.~=-]{16,}"
_LABELLED = re.compile(
    r"(?P<label>(?:(?<![A-Za-z0-9])(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token"
    r"|refresh[_-]?token|client[_-]?secret|secret[_-]?key|secret|password|passwd|token"
    r"|authorization)[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?"
    r"|(?<![A-Za-z0-9_])key=|(?<![A-Za-z0-9])bearer\s+))" + _TOKEN,
    re.IGNORECASE)
_URL_PASSWORD = re.compile(  # an already hidden one (``user:***@``) is left as it is
    r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]+:)(?!\*+@)[^@/\s]+(?=@)")


def register_secret(value: Any) -> None:
    """Mask ``value`` in everything :func:`redact` sees from now on, in this process.

    Takes a ``str`` or a pydantic ``SecretStr`` (anything with ``get_secret_value``);
    None, and values shorter than :data:`MIN_SECRET_CHARS`, are ignored.
    """
    if value is not None and hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, str) and len(value.strip()) >= MIN_SECRET_CHARS:
        with _LOCK:
            _SECRETS.add(value.strip())


def _environment_secrets() -> set[str]:
    return {value.strip() for name, value in os.environ.items()
            if (name in PROVIDER_ENV or name.upper().endswith(_SECRET_ENV_SUFFIXES))
            and len(value.strip()) >= MIN_SECRET_CHARS}


def _known_pattern() -> re.Pattern[str] | None:
    """One alternation of every known secret, longest first; rebuilt when the set changes."""
    global _compiled
    with _LOCK:
        known = frozenset(_SECRETS | _environment_secrets())
        if known != _compiled[0]:
            alternatives = sorted(known, key=len, reverse=True)
            _compiled = (known, re.compile("|".join(map(re.escape, alternatives)))
                         if alternatives else None)
        return _compiled[1]


def mask(secret: str) -> str:
    """How ``secret`` is shown: its known prefix and last four characters when it has a
    provider key's prefix and at least 20 characters (``sk-ant-...wxyz``), else
    :data:`MASK`."""
    match = _PREFIXED.fullmatch(secret)
    if match is None or len(secret) < 20:
        return MASK
    prefix = next(group for group in match.groups() if group)
    return f"{prefix}...{secret[-4:]}"


def redact(text: str) -> str:
    """``text`` with every known secret and every key-shaped string masked; see the module
    docstring. Idempotent; text without secrets comes back unchanged."""
    if not text:
        return text
    known = _known_pattern()
    if known is not None:
        text = known.sub(lambda m: mask(m.group()), text)
    text = _PREFIXED.sub(lambda m: mask(m.group()), text)
    text = _LABELLED.sub(lambda m: m.group("label") + MASK, text)
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


class RedactingFilter(logging.Filter):
    """Redacts a log record in place; never drops one.

    The message (with its arguments merged in) is redacted; so are a traceback and a
    stack. A record that held a secret loses its ``args`` (the message is pre-formatted)
    and its ``exc_info`` (its traceback is kept, redacted, as ``exc_text``, which the
    standard formatter prints); records without secrets keep both.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record``; always True."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it when it formats it
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        trace = record.exc_text or (logging.Formatter().formatException(record.exc_info)
                                    if record.exc_info else "")
        if trace:
            clean = redact(trace)
            if clean != trace:
                record.exc_text, record.exc_info = clean, None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _RedactFirst(logging.Handler):
    """A handler on the ``ragline`` logger that only runs :class:`RedactingFilter`.

    A logger's own filters see only the records logged on that very logger; a handler
    sees every record of the hierarchy below it, before the handlers of the loggers
    above it (the root's, where applications and pytest attach theirs). It emits
    nothing itself, except that it hands a record to :data:`logging.lastResort` when no
    other handler would see it, as logging would have done without it.
    """

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.addFilter(RedactingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        """Forward to the last-resort handler when nobody else would see ``record``."""
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None:
            if any(handler is not self for handler in logger.handlers):
                return
            logger = logger.parent if logger.propagate else None
        last = logging.lastResort
        if last is not None and record.levelno >= last.level:
            last.handle(record)


def _install() -> None:
    """Put the redacting step on the ``ragline`` logger (once per process)."""
    logger = logging.getLogger("ragline")
    if not any(isinstance(handler, _RedactFirst) for handler in logger.handlers):
        logger.addHandler(_RedactFirst())


_install()
