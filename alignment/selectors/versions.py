"""Reads of model versions: one with its lineage, the project's list, and two versions' samples side by side."""

from __future__ import annotations

from dataclasses import dataclass

from alignment.models import ModelVersion, VersionKind
from annotate.models import Project, Prompt, Response


def version_list(
    *, project: Project, kind: str | None = None, status: str | None = None
) -> list[ModelVersion]:
    """The project's versions (of one kind or status if given): policies first, newest first within a kind."""
    versions = ModelVersion.objects.filter(project=project).select_related(
        "parent", "reward_model", "round", "snapshot"
    )
    if kind is not None:
        versions = versions.filter(kind=kind)
    if status is not None:
        versions = versions.filter(status=status)
    return list(versions.order_by("kind", "-number"))  # "policy" sorts before "reward"


def version_by_id(*, project: Project, version_id: int) -> ModelVersion | None:
    """The project's version with that id, with what its lineage names; None for another project's."""
    return (
        ModelVersion.objects.filter(project=project, pk=version_id)
        .select_related("parent", "reward_model", "round", "snapshot")
        .first()
    )


def version_get(*, project: Project, kind: str, number: int) -> ModelVersion | None:
    if kind not in VersionKind.values:
        return None
    return (
        ModelVersion.objects.filter(project=project, kind=kind, number=number)
        .select_related("project", "parent", "snapshot", "reward_model", "round")
        .first()
    )


def version_lineage(*, version: ModelVersion, limit: int = 100) -> list[ModelVersion]:
    """The versions it descends from, its parent first, down to the base policy."""
    chain: list[ModelVersion] = []
    seen = {version.pk}
    parent_id = version.parent_id
    while parent_id is not None and parent_id not in seen and len(chain) < limit:
        parent = ModelVersion.objects.select_related("round").filter(pk=parent_id).first()
        if parent is None:
            break
        chain.append(parent)
        seen.add(parent.pk)
        parent_id = parent.parent_id
    return chain


def version_policies(*, project: Project) -> list[ModelVersion]:
    return list(ModelVersion.objects.filter(project=project, kind=VersionKind.POLICY).order_by("-number"))


@dataclass(frozen=True)
class SamplePair:
    """One prompt both versions answered: each version's sampled responses (with the reward model's score)."""

    prompt: Prompt
    first: list[Response]
    second: list[Response]


def version_samples(*, first: ModelVersion, second: ModelVersion, limit: int = 20) -> list[SamplePair]:
    """Prompts for which both versions sampled responses, newest prompts first, with those responses."""
    if first.pk == second.pk:
        return []
    both = (
        Response.objects.filter(
            model_version=first,
            prompt_id__in=Response.objects.filter(model_version=second).values("prompt_id"),
        )
        .values_list("prompt_id", flat=True)
        .distinct()
        .order_by("-prompt_id")
    )
    prompt_ids = list(both[:limit])
    responses = Response.objects.filter(prompt_id__in=prompt_ids, model_version__in=[first, second]).order_by(
        "prompt_id", "pk"
    )
    by_prompt: dict[int, tuple[list[Response], list[Response]]] = {pid: ([], []) for pid in prompt_ids}
    for response in responses:
        by_prompt[response.prompt_id][0 if response.model_version_id == first.pk else 1].append(response)
    prompts = Prompt.objects.in_bulk(prompt_ids)
    return [SamplePair(prompt=prompts[pid], first=a, second=b) for pid, (a, b) in by_prompt.items()]


def version_pair_default(*, project: Project) -> tuple[ModelVersion | None, ModelVersion | None]:
    """The pair the comparison page opens with: the newest trained policy and the one it was trained from."""
    newest = (
        ModelVersion.objects.filter(project=project, kind=VersionKind.POLICY, number__gt=0)
        .select_related("parent")
        .order_by("-number")
        .first()
    )
    if newest is None:
        return None, None
    return newest, newest.parent
