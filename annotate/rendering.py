"""Markdown from prompts, responses and guidelines, rendered and then sanitised.

User text is untrusted (STYLE.md rule 8): Markdown passes raw HTML through, so
the output goes through nh3 (the Ammonia sanitiser) with an allow-list; a
``<script>`` in a response comes out as escaped text or not at all, never as a tag.
"""

from __future__ import annotations

import markdown
import nh3
from markdown.extensions import Extension

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
    "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"align"}, "th": {"align"}}


class _RawHtmlAsText(Extension):
    """Treat raw HTML in the source as text, so ``<script>`` is shown as typed rather than dropped."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def markdown_to_safe_html(text: str) -> str:
    """HTML for the Markdown text with every tag and attribute outside the allow-list removed."""
    html = markdown.markdown(text, extensions=[_RawHtmlAsText(), "fenced_code", "tables", "sane_lists", "nl2br"])
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
