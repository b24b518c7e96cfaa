"""Document loaders: text, Markdown, HTML and PDF files -> :class:`~ragline.types.Document`.

A document's id is its file's resolved absolute POSIX path, so re-ingesting
the same file replaces its chunks. Every document's metadata holds ``source``
(that path), ``filename``, ``title``, ``format`` (``txt``, ``md``, ``html`` or
``pdf``) and ``sha256`` (of the raw bytes); a PDF's also holds ``pages``, a list
of ``[start_char, end_char, page_number]`` that :func:`page_at` reads.

Text files must be UTF-8 (a byte-order mark is allowed); line endings are
normalised to ``\\n``. A file that cannot be read, decoded or parsed, or that
holds no text, raises :class:`~ragline.errors.DocumentLoadError` with the reason;
:func:`load_documents` collects those reasons instead of stopping.
"""

from __future__ import annotations

import hashlib
import io
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pypdf
from bs4 import BeautifulSoup
from bs4.element import Comment, NavigableString

from ragline.errors import DocumentLoadError, InvalidInput
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


@dataclass(slots=True)
class LoadReport:
    """The outcome of :func:`load_documents`: loaded documents and skipped ``(path, reason)``."""

    documents: list[Document] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_document(path: Path) -> Document:
    """Load one supported file as a :class:`Document` (see the module docstring for metadata).

    Raises :class:`DocumentLoadError` for an unsupported extension, a file that
    cannot be read, binary or non-UTF-8 text, a corrupt PDF, or no text at all.
    """
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        shown = f"'{path.suffix}'" if path.suffix else "(no extension)"
        supported = ", ".join(SUPPORTED_EXTENSIONS)
        raise DocumentLoadError(str(path), f"unsupported file type {shown}; supported: {supported}")
    raw = _read_bytes(path)
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
    supported. Raises :class:`InvalidInput` for a path that does not exist, and
    :class:`DocumentLoadError` for a directory that cannot be listed unless
    ``unlistable`` is given: then ``(directory, reason)`` is appended there.
    """
    return _files(paths, unlistable)


def load_documents(paths: Sequence[Path]) -> LoadReport:
    """Load every file :func:`iter_files` finds under ``paths``.

    Files that cannot be loaded (and directories that cannot be listed) are
    listed in ``LoadReport.skipped`` with the reason and never stop the run;
    only a path that does not exist raises :class:`InvalidInput`.
    """
    report = LoadReport()
    for path in iter_files(paths, report.skipped):
        try:
            report.documents.append(load_document(path))
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
            key = file.resolve()
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


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        if path.is_symlink():
            raise DocumentLoadError(str(path), "broken symbolic link: its target does not exist"
                                    ) from exc
        raise DocumentLoadError(str(path), "file not found") from exc
    except OSError as exc:
        raise DocumentLoadError(str(path), f"cannot read file: {_os_reason(exc)}") from exc


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
    return text.replace("\r\n", "\n").replace("\r", "\n")


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
    return _paragraphs(soup.get_text()), title


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
