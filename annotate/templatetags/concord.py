from django import template
from django.utils.safestring import SafeString, mark_safe

from annotate.rendering import markdown_to_safe_html

register = template.Library()


@register.filter
def markdown_safe(text: str | None) -> SafeString:
    """Render untrusted Markdown; the result has been through the sanitiser, so it is marked safe."""
    return mark_safe(markdown_to_safe_html(text or ""))
