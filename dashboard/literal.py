"""Values from the data inside Streamlit's Markdown, shown as text (docs/security.md#values-from-the-data-are-text).

Titles, subheaders, captions, alerts and help texts are Markdown, with Streamlit's extras: a client
id `![c](http://host/pixel.png)` would make every browser that opens the page fetch that URL,
`[Sign in again](http://…)` would be a live link, and `:red[…]`, `$…$`, emoji codes and bare URLs
would be drawn as colour, formulas, pictures and links. Backslash escapes cannot stop the bare URLs
(GitHub-flavoured Markdown links them after the escapes are read), so a value is put in an inline
code span instead: inside one, nothing is Markdown. Streamlit rewrites `:material/` anywhere in the
source, code included, so that one sequence gets an invisible word joiner after its colon.
"""

from __future__ import annotations

import re

from pipelines.plain import visible

_BACKTICKS = re.compile(r"`+")
MATERIAL_ICON = ":material/"
WORD_JOINER = "\u2060"


def literal(value: object) -> str:
    """The value as a Markdown inline code span that shows exactly its text, control characters
    made visible (as in the terminal: pipelines/plain.py). Use it for every value from the data
    (ids, statuses, reasons, file names, e-mail addresses, clinic ids) in a Markdown string."""
    text = visible(value).replace(MATERIAL_ICON, f":{WORD_JOINER}material/")
    # The fence is one backtick longer than any run inside; the spaces inside the fence are
    # removed by the Markdown reader, and keep a value that starts or ends with ` apart from it.
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    return f"{fence} {text} {fence}"
