"""Document loaders: text, Markdown, HTML and PDF files -> :class:`~ragline.types.Document`.

A document's id is its file's resolved absolute POSIX path, so re-ingesting
the same file replaces its chunks. Every document's metadata holds ``source``
(that path), ``filename``, ``title``, ``format`` (``txt``, ``md``, ``html`` or
``pdf``) and ``sha256`` (of the raw bytes); a PDF's also holds ``pages``, a list
of ``[start_char, end_char, page_number]`` that :func:`page_at` reads.

Text files must be UTF-8 (a byte-order mark is allowed); line endings are
normalised to ``\\n``. Only regular files are read (a symbolic link to one is
followed): a broken link, a link loop, a named pipe, a device or a socket is
refused before it is opened for reading, so none of them can hang or exhaust
memory, and a file larger than ``max_file_mb`` is refused by its size. A file
that cannot be read, decoded or parsed, or that holds no text, raises
:class:`~ragline.errors.DocumentLoadError` with the reason; :func:`load_documents`
collects those reasons instead of stopping. pypdf's own log lines and warnings
about a damaged PDF are kept off stderr while ragline parses it: the reason
says what went wrong.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import re
import stat
import threading
import warnings
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pypdf
from bs4 import BeautifulSoup
from bs4.element import Comment, NavigableString

from ragline.errors import DocumentLoadError, InvalidInput
from ragline.text import nfc
from ragline.types import Document

_FORMATS: dict[str, str] = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(sorted(_FORMATS))
"""File name extensions (lower case, with the dot) that :func:`load_document` reads."""

_TITLE_CHARS = 80
_MD_H1 = re.compile(r"^#[ \t]+(\S.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_HTML_DROPPED = ("script", "style", "noscript", "template", "title", "svg")
_HTML_BLOCKS = (
    "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
    "tr", "ul",
)
_HTML_CELLS = ("td", "th")
_BLANK_LINES = re.compile(r"\n\s*\n")
_MB = 1024 * 1024
_READ_CHUNK = 1 << 20
_SPECIAL_FILES = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
_PYPDF_QUIET = threading.Lock()
_pypdf_quiet_depth = 0
_pypdf_level = logging.NOTSET


@dataclass(slots=True)
class LoadReport:
    """The outcome of :func:`load_documents`: loaded documents and skipped ``(path, reason)``."""

    documents: list[Document] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_document(path: Path, *, max_file_mb: float | None = None) -> Document:
    """Load one supported file as a :class:`Document` (see the module docstring for metadata).

    Raises :class:`DocumentLoadError` for an unsupported extension, a path that
    is not a regular file (broken link, link loop, pipe, device, socket), a file
    over ``max_file_mb`` megabytes (None: no limit), a file that cannot be read,
    binary or non-UTF-8 text, a corrupt PDF, or no text at all.
    """
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        shown = f"'{path.suffix}'" if path.suffix else "(no extension)"
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        raise DocumentLoadError(str(path), f"unsupported file type {shown}; supported: {supported}")
    raw = _read_bytes(path, max_file_mb)
    extra: dict[str, Any] = {}
    if fmt == "pdf":
        text, title = _pdf_text(path, raw, extra)
    elif fmt == "html":
        text, title = _html_text(_decode(path, raw))
    else:
        text = _normalise_newlines(_decode(path, raw))
        title = _markdown_title(text) if fmt == "md" else None
    if not text.strip():
        raise DocumentLoadError(str(path), "holds no text")
    source = path.resolve().as_posix()
    metadata = {
        "source": source,
        "filename": path.name,
        "title": title or _first_line(text),
        "format": fmt,
        "sha256": hashlib.sha256(raw).hexdigest(),
        **extra,
    }
    return Document(id=source, text=text, metadata=metadata)


def iter_files(paths: Sequence[Path],
               unlistable: list[tuple[str, str]] | None = None) -> Iterator[Path]:
    """Yield the files to load from ``paths``, each once, in a deterministic order.

    A directory is walked recursively in sorted name order, keeping only files
    with a supported extension and skipping hidden entries (names starting with
    ``.``) and symbolic links to directories. A file named explicitly is yielded
    whatever its extension, so :func:`load_document` can say why it is not
    supported. Links are not opened here: a broken link or a link loop is
    yielded like a file, for :func:`load_document` to refuse with its reason.
    Raises :class:`InvalidInput` for a path that does not exist, and
    :class:`DocumentLoadError` for a directory that cannot be listed unless
    ``unlistable`` is given: then ``(directory, reason)`` is appended there.
    """
    return _files(paths, unlistable)


def load_documents(paths: Sequence[Path], *, max_file_mb: float | None = None) -> LoadReport:
    """Load every file :func:`iter_files` finds under ``paths``.

    Files that cannot be loaded (and directories that cannot be listed) are
    listed in ``LoadReport.skipped`` with the reason and never stop the run;
    only a path that does not exist raises :class:`InvalidInput`.
    ``max_file_mb`` is passed to :func:`load_document`.
    """
    report = LoadReport()
    for path in iter_files(paths, report.skipped):
        try:
            report.documents.append(load_document(path, max_file_mb=max_file_mb))
        except DocumentLoadError as exc:
            report.skipped.append((exc.path, exc.reason))
    return report


def page_at(metadata: Mapping[str, Any], offset: int) -> int | None:
    """Return the 1-based PDF page holding character ``offset`` of a document's text.

    ``metadata`` is the document's (or anything with its ``pages`` list). An
    offset in the blank line between two pages belongs to the earlier page.
    Returns None when there is no ``pages`` list or the offset is outside the text.
    """
    pages = metadata.get("pages")
    if not pages or offset < 0 or offset >= pages[-1][1]:
        return None
    index = bisect_right([start for start, _, _ in pages], offset) - 1
    return int(pages[index][2]) if index >= 0 else None


def _files(paths: Sequence[Path], unlistable: list[tuple[str, str]] | None) -> Iterator[Path]:
    missing = [p for p in paths if not (p.exists() or p.is_symlink())]
    if missing:
        raise InvalidInput(f"{missing[0]} does not exist")
    seen: set[Path] = set()
    for path in paths:
        for file in _walk(path, unlistable) if path.is_dir() else iter([path]):
            try:
                key = file.resolve()
            except (OSError, RuntimeError):  # a link loop: load_document says so
                key = file.absolute()
            if key not in seen:
                seen.add(key)
                yield file


def _walk(directory: Path, unlistable: list[tuple[str, str]] | None) -> Iterator[Path]:
    try:
        entries = sorted(directory.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        reason = f"cannot list directory: {_os_reason(exc)}"
        if unlistable is None:
            raise DocumentLoadError(str(directory), reason) from exc
        unlistable.append((str(directory), reason))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if not entry.is_symlink():
                yield from _walk(entry, unlistable)
        elif entry.suffix.lower() in _FORMATS:
            yield entry


def _read_bytes(path: Path, max_file_mb: float | None) -> bytes:
    """The bytes of ``path`` if it is a regular file within ``max_file_mb``.

    The file is checked with ``stat`` before it is opened (opening a FIFO for
    reading blocks until a writer comes), opened non-blocking, checked again on
    the open descriptor, and read no further than the limit, so a file that is
    replaced or grows meanwhile cannot hang the read or exhaust memory.
    """
    try:
        _check_regular(path, os.stat(path), max_file_mb)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            _check_regular(path, os.fstat(handle.fileno()), max_file_mb)
            parts: list[bytes] = []
            size = 0
            while part := handle.read(_READ_CHUNK):
                parts.append(part)
                size += len(part)
                if max_file_mb is not None and size > max_file_mb * _MB:
                    raise DocumentLoadError(str(path), _too_big(size, max_file_mb, "grew to"))
            return b"".join(parts)
    except FileNotFoundError as exc:
        if path.is_symlink():
            raise DocumentLoadError(str(path), "broken symbolic link: its target does not exist"
                                    ) from exc
        raise DocumentLoadError(str(path), "file not found") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DocumentLoadError(str(path), "symbolic link loop: following its links leads "
                                    "back to itself, never to a file") from exc
        raise DocumentLoadError(str(path), f"cannot read file: {_os_reason(exc)}") from exc


def _check_regular(path: Path, status: os.stat_result, max_file_mb: float | None) -> None:
    """Raise DocumentLoadError unless ``status`` is a regular file within ``max_file_mb``."""
    if stat.S_ISDIR(status.st_mode):
        raise DocumentLoadError(str(path), "cannot read file: it is a directory, not a file")
    if not stat.S_ISREG(status.st_mode):
        kind = next((name for test, name in _SPECIAL_FILES if test(status.st_mode)),
                    "a special file")
        raise DocumentLoadError(str(path), f"not a regular file: it is {kind}; "
                                "only regular files (or links to them) are read")
    if max_file_mb is not None and status.st_size > max_file_mb * _MB:
        raise DocumentLoadError(str(path), _too_big(status.st_size, max_file_mb, "is"))


def _too_big(size: int, max_file_mb: float, verb: str) -> str:
    return (f"file {verb} {size / _MB:.1f} MB, over ingest.max_file_mb ({max_file_mb:g} MB); "
            "raise ingest.max_file_mb in a --config file to index it")


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, IsADirectoryError):
        return "it is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


def _decode(path: Path, raw: bytes) -> str:
    if b"\x00" in raw:
        raise DocumentLoadError(
            str(path), "binary data (contains NUL bytes), not UTF-8 text; save it as UTF-8"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentLoadError(
            str(path),
            f"not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "convert it to UTF-8",
        ) from exc


def _normalise_newlines(text: str) -> str:
    """Line endings as ``\n`` and the text in Unicode NFC (as BM25 and queries see it)."""
    return nfc(text.replace("\r\n", "\n").replace("\r", "\n"))


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line[:_TITLE_CHARS].rstrip()


def _markdown_title(text: str) -> str | None:
    match = _MD_H1.search(text)
    if match:
        return match.group(1)
    return _first_line(text).lstrip("#").strip() or None


def _html_text(markup: str) -> tuple[str, str | None]:
    """Return the visible text of an HTML page, blocks as paragraphs, and its title."""
    soup = BeautifulSoup(markup, "html.parser")
    title = _html_title(soup)
    for node in soup.find_all(string=lambda s: isinstance(s, Comment)):
        node.extract()
    for tag in soup.find_all(_HTML_DROPPED):
        tag.decompose()
    for node in soup.find_all(string=True):
        # Source line breaks are soft wraps, except inside <pre>.
        if type(node) is NavigableString and "\n" in node and node.find_parent("pre") is None:
            node.replace_with(node.replace("\n", " "))
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    for tag in soup.find_all(_HTML_CELLS):
        tag.insert_after(" ")
    return _paragraphs(nfc(soup.get_text())), title


def _html_title(soup: BeautifulSoup) -> str | None:
    for tag in (soup.title, soup.find("h1")):
        if tag is not None:
            text = " ".join(tag.get_text(" ").split())
            if text:
                return str(text)
    return None


def _paragraphs(text: str) -> str:
    """Collapse spaces in each line, drop empty lines, separate blocks by one blank line."""
    blocks = []
    for block in _BLANK_LINES.split(text):
        lines = (" ".join(line.split()) for line in block.split("\n"))
        joined = "\n".join(line for line in lines if line)
        if joined:
            blocks.append(joined)
    return "\n\n".join(blocks)


def _pdf_text(path: Path, raw: bytes, extra: dict[str, Any]) -> tuple[str, str | None]:
    """Return a PDF's text (pages joined by blank lines) and title; set ``extra['pages']``."""
    try:
        with _quiet_pypdf():
            reader = pypdf.PdfReader(io.BytesIO(raw))
            if reader.is_encrypted and not reader.decrypt(""):
                raise DocumentLoadError(str(path), "not a readable PDF: it is encrypted")
            page_texts = [_normalise_newlines(page.extract_text() or "").strip()
                          for page in reader.pages]
            info = reader.metadata
            title = info.title if info is not None else None
    except DocumentLoadError:
        raise
    except Exception as exc:  # pypdf raises many types (PdfReadError, ValueError, KeyError...)
        raise DocumentLoadError(str(path), f"not a readable PDF: {exc}") from exc
    parts: list[str] = []
    pages: list[list[int]] = []
    offset = 0
    for number, page_text in enumerate(page_texts, start=1):
        if not page_text:
            continue
        if parts:
            offset += 2
        pages.append([offset, offset + len(page_text), number])
        parts.append(page_text)
        offset += len(page_text)
    extra["pages"] = pages
    clean_title = " ".join(title.split()) if isinstance(title, str) else ""
    return "\n\n".join(parts), clean_title or None


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """Silence pypdf's log records and warnings while ragline parses a PDF.

    Only the ``pypdf`` logger is touched (its level is raised above CRITICAL and put
    back afterwards; nested or concurrent uses share one change) and only
    warnings raised inside the block are dropped: ragline's own reason for
    refusing the file says what went wrong.
    """
    global _pypdf_quiet_depth, _pypdf_level
    logger = logging.getLogger("pypdf")
    with _PYPDF_QUIET:
        if _pypdf_quiet_depth == 0:
            _pypdf_level = logger.level
            logger.setLevel(logging.CRITICAL + 1)
        _pypdf_quiet_depth += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        with _PYPDF_QUIET:
            _pypdf_quiet_depth -= 1
            if _pypdf_quiet_depth == 0:
                logger.setLevel(_pypdf_level)
