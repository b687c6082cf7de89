"""Sentences of a report, for window rules and contexts: where each starts, which are questions.

A sentence ends at ".", "!", "?" or "…" followed by white space (closing quotes and brackets
may come between), and at a line break, except a line break inside a paragraph that was
wrapped at a fixed width (a long line not ending in punctuation, followed by more text):
mail clients wrap at 72 columns, and that break is not the end of a thought. Chat-like
reports ("hey\nsend pics\ndont tell ur mom") have one thought per line, which this keeps.

Abbreviations ("e.g.", "Mr.") split a sentence in two; window rules span several sentences
(lexicon `window`), so such a split costs little.
"""

from __future__ import annotations

import re
from typing import Final

_END: Final = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)|\n")
_WRAPPED: Final = 60  # a line at least this long, not ending a sentence, was wrapped


def sentence_starts(text: str) -> tuple[list[int], list[bool]]:
    """Indices in `text` where sentences start (the first is 0), and for each sentence
    whether it ends with a question mark."""
    starts = [0]
    questions: list[bool] = []
    line_start = 0
    for m in _END.finditer(text):
        end = m.end()
        if m.group() == "\n":
            line = text[line_start : m.start()].rstrip()
            line_start = end
            wrapped = len(line) >= _WRAPPED and not line.endswith((".", "!", "?", ":", "…"))
            following = text[end : end + 1]
            if wrapped and following not in ("", "\n", ">"):
                continue
            if starts[-1] >= m.start() or not text[starts[-1] : m.start()].strip():
                starts[-1] = end  # nothing since the last break: an empty line
                continue
            questions.append(line.endswith("?"))
        else:
            questions.append("?" in m.group())
        starts.append(end)
    questions.append(text[starts[-1] :].rstrip().endswith("?"))
    return starts, questions
