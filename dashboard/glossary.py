"""The glossary of docs/metrics/glossary.md, read by the dashboard: the Glossary page and the help text of
every column (dashboard/vocabulary.py) come from the same entries as the manual's page, so the two cannot
drift apart (docs/dashboard.md#glossary).

A wheel carries the page as dashboard/glossary.md (pyproject.toml); a source checkout reads docs/ itself.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pipelines.errors import LoadError

# "## Title" or "## Title {#anchor}"
_HEADING = re.compile(r"^## (?P<title>.+?)(?: \{#(?P<anchor>[\w-]+)\})?\s*$")
_LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<target>[^)]*)\)")


@dataclass(frozen=True)
class Entry:
    title: str
    anchor: str
    body: str  # Markdown, links as the manual writes them


def glossary_path() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "glossary.md", here.parent / "docs" / "metrics" / "glossary.md"):
        if candidate.is_file():
            return candidate
    raise LoadError("the glossary (docs/metrics/glossary.md) is missing from this installation "
                    "(reinstall clinic-outcomes)")


def slug(title: str) -> str:
    """The anchor MkDocs gives a heading (Python-Markdown's toc slugify)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", ascii_title).strip().lower())


def parse(text: str) -> dict[str, Entry]:
    """Every `## ` entry of the glossary page by its anchor, in the page's order."""
    entries: dict[str, Entry] = {}
    title = anchor = None
    lines: list[str] = []

    def close() -> None:
        if title is not None:
            entries[anchor] = Entry(title, anchor, "\n".join(lines).strip())

    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            close()
            title = heading["title"]
            anchor = heading["anchor"] or slug(title)
            lines = []
        elif title is not None:
            lines.append(line)
    close()
    return entries


@cache
def entries() -> dict[str, Entry]:
    return parse(glossary_path().read_text(encoding="utf-8"))


def for_the_page(body: str) -> str:
    """An entry's Markdown for the dashboard: links to other entries stay links to their place on the
    Glossary page, links to other pages of the manual (not served by the dashboard) become their words."""
    def link(match: re.Match[str]) -> str:
        target = match["target"]
        return match[0] if target.startswith("#") else match["text"]
    return _LINK.sub(link, body)


def plain(body: str) -> str:
    """An entry as plain words, for help texts: no links, no code marks, one line."""
    return " ".join(_LINK.sub(lambda match: match["text"], body).replace("`", "").split())


def first_sentence(anchor: str) -> str:
    """The entry's first sentence, in plain words: the help text a column or a tile borrows from it."""
    text = plain(entries()[anchor].body)
    end = re.search(r"\.(\s|$)", text)
    return text if end is None else text[:end.start() + 1]
