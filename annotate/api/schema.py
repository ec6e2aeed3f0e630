"""OpenAPI generation: one component name per nested serializer, and every error documented."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

ERROR_REF = {"$ref": "#/components/schemas/Error"}
VALIDATION_ERROR_REF = {"$ref": "#/components/schemas/ValidationError"}

_COMPONENTS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "description": "A refusal: ``detail`` is for people; ``code``, when present, is stable.",
        "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
        "required": ["detail"],
    },
    "ValidationError": {
        "type": "object",
        "description": "Each refused field (``non_field_errors`` for the body as a whole) with what is wrong with it.",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    },
}

# Answered by DRF or Django before or around any view; which ones apply depends on the operation.
_BAD_REQUEST = "The body or a query parameter is not valid: which field, and why."
_ERRORS: dict[str, tuple[str, dict[str, Any]]] = {
    "400": (_BAD_REQUEST, {"anyOf": [VALIDATION_ERROR_REF, ERROR_REF]}),
    "401": ("No valid credentials were given.", ERROR_REF),
    "403": ("The caller may not do this (or, with a session, the CSRF check failed).", ERROR_REF),
    "404": ("No such object, or not one the caller may see.", ERROR_REF),
    "415": ("The body's Content-Type is not one this operation reads.", ERROR_REF),
}


class ErrorSerializer(serializers.Serializer[dict[str, str]]):
    """The ``Error`` component, for views that document an extra error code (409 and the like)."""

    detail = serializers.CharField()
    code = serializers.CharField(required=False)

    class Meta:
        ref_name = "Error"


class ConcordAutoSchema(AutoSchema):
    """Names a nested ``<Entity><Action>Api.InputSerializer`` ``<Entity><Action>Input`` (STYLE.md rule 2
    nests them, and drf-spectacular would call every one of them ``Input``); documents JSON bodies only."""

    def map_parsers(self) -> list[Any]:
        # Form encodings are read too (the Django test client and browsers send them), but they cannot
        # say null, a number or "not given" apart from blank, so JSON is the contract wherever JSON is read.
        media_types = super().map_parsers()
        return ["application/json"] if "application/json" in media_types else media_types

    def get_serializer_name(self, serializer: serializers.BaseSerializer[Any], direction: Any) -> str:
        cls = type(serializer)
        owner, _, own = cls.__qualname__.rpartition(".")
        if not owner:
            return cls.__name__
        return owner.rpartition(".")[2].removesuffix("Api") + own.removesuffix("Serializer")


def _codes_for(path: str, operation: dict[str, Any]) -> list[str]:
    codes = []
    parameters = operation.get("parameters", [])
    if "requestBody" in operation or any(p.get("in") == "query" for p in parameters):
        codes.append("400")
    if {} not in operation.get("security", [{}]):
        codes += ["401", "403"]
    if "{" in path:
        codes.append("404")
    if "requestBody" in operation:
        codes.append("415")
    return codes


def postprocess_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Adds the errors each operation can answer, merged with those a view documents itself."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in _COMPONENTS.items():
        schemas[name] = component
    for path, methods in result.get("paths", {}).items():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            for code in _codes_for(path, operation):
                description, schema = _ERRORS[code]
                documented = responses.get(code)
                if documented is None:
                    responses[code] = {
                        "description": description,
                        "content": {"application/json": {"schema": schema}},
                    }
                    continue
                # The view's own shape for this code, or any of the generic ones.
                content = documented.setdefault("content", {}).setdefault("application/json", {})
                own = content.get("schema")
                if own is not None and own != schema:
                    content["schema"] = {"anyOf": [own, *schema.get("anyOf", [schema])]}
                else:
                    content["schema"] = schema
                documented["description"] = documented.get("description") or description
    return result
