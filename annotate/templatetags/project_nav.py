"""``{% project_links project as links %}``: the project pages the signed-in user may open."""

from __future__ import annotations

from typing import Any

from django import template

from annotate.navigation import ProjectLink, project_links

register = template.Library()


@register.simple_tag(takes_context=True, name="project_links")
def project_links_tag(context: dict[str, Any], project: Any) -> list[ProjectLink]:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if user is None or project is None:
        return []
    return project_links(user=user, project=project)
