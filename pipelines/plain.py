"""Values from the data, printed as text in a terminal (docs/security.md#values-from-the-data-are-text).

Rich reads `[...]` in a string it prints as markup: a status of `[/bold]` would end a style that
was never opened (and the print fails), `[link=...]` would hide a hyperlink behind a word. And a raw
escape sequence in an id would be obeyed by the terminal. So every value from the data (ids,
statuses, reasons, file names, paths) is printed through `plain`, as a Rich Text that is never
read as markup, or through `visible` on a line printed with markup=False.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

# Characters a terminal obeys or reorders rather than shows: C0 and C1 controls, DEL, the line and
# paragraph separators, and the bidirectional overrides and isolates (a "Trojan Source" file name).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
SEPARATORS = frozenset("\u2028\u2029\u0085")


def _is_hidden(char: str) -> bool:
    return unicodedata.category(char) == "Cc" or char in BIDI_CONTROLS or char in SEPARATORS


def _shown(char: str) -> str:
    """A control character as the escape a Python string would use: ESC as the four characters \\x1b."""
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(value: object) -> str:
    """The value as text with every control character made visible (for output read as plain text)."""
    text = str(value)
    if not any(_is_hidden(c) for c in text):
        return text
    return "".join(_shown(c) if _is_hidden(c) else c for c in text)


def plain(value: object, style: str = "") -> Text:
    """The value as Rich text that prints exactly as it reads in the data: never parsed as markup or
    emoji codes, control characters made visible. Join with other text by Text.assemble."""
    return Text(visible(value), style=style)
