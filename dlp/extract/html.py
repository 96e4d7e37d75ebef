"""HTML to the text a reader sees, for matching.

Inline tags vanish without a trace, so "4111<b>1111</b>..." reads as one
number; block tags become line breaks, so cells and paragraphs do not run
together. Entities are decoded after the tags are gone. The expressions are
bounded (no nested quantifiers, "[^<>]" stops at the next tag) so hostile
markup is read in linear time."""

import html
import re

_HIDDEN = re.compile(r"<!--.*?(?:-->|\Z)|<(script|style|head)\b[^<>]*>.*?(?:</\1\s*>|\Z)", re.S | re.I)
_INLINE = re.compile(
    r"</?(?:a|abbr|b|bdi|bdo|big|cite|code|data|del|dfn|em|font|i|ins|kbd|mark|q|s|samp|small|span|strike|"
    r"strong|sub|sup|time|tt|u|var|wbr|o:p)\b[^<>]*>",
    re.I,
)
_TAG = re.compile(r"<[!/?]?[a-zA-Z][^<>]*>")
_BLANK_LINES = re.compile(r"\n\s*\n\s*")


def html_to_text(markup):
    text = _HIDDEN.sub(" ", markup)
    text = _INLINE.sub("", text)
    text = _TAG.sub("\n", text)
    text = html.unescape(text)
    return _BLANK_LINES.sub("\n", text)
