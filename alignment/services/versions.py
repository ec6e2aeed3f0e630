"""Model versions: the base policy's v0, each round's new versions, and promotion or rejection by hand."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from alignment.models import AlignmentPlan, ModelVersion, VersionKind, VersionStatus
from alignment.models.versions import model_root
from annotate.models import Project

LIBRARIES = ("torch", "transformers", "trl", "peft")


class VersionRefused(ValueError):
    """A status change that would break the lineage's rules (no champion left, the base rejected).

    ``field`` is "reason" when the refusal is about the reason given, else "status"."""

    def __init__(self, message: str, *, field: str = "status") -> None:
        super().__init__(message)
        self.field = field


REASON_NEEDED = "Say why the version is rejected."


def libraries_versions() -> dict[str, str]:
    """Installed versions of the training stack, read from package metadata (no torch import)."""
    found: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = ""
    return found


def stored_path(path: str | Path) -> str:
    """A folder the library wrote, as a version stores it: relative to CONCORD_MODEL_ROOT when inside it."""
    folder = Path(path).resolve()
    try:
        return str(folder.relative_to(model_root().resolve()))
    except ValueError:
        return str(folder)


def version_base_ensure(*, project: Project, plan: AlignmentPlan) -> ModelVersion:
    """The project's policy v0 (the plan's base policy), champion while no round has made a better one."""
    base = ModelVersion.objects.filter(project=project, kind=VersionKind.POLICY, number=0).first()
    if base is not None:
        return base
    has_champion = ModelVersion.objects.filter(
        project=project, kind=VersionKind.POLICY, status=VersionStatus.CHAMPION
    ).exists()
    return ModelVersion.objects.create(
        project=project,
        kind=VersionKind.POLICY,
        number=0,
        path=plan.base_policy,
        reference=plan.reference,
        libraries=libraries_versions(),
        status=VersionStatus.ARCHIVED if has_champion else VersionStatus.CHAMPION,
        status_reason="" if has_champion else "the plan's base policy",
        status_changed_at=timezone.now(),
    )


def version_champion(*, project: Project, kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, kind=kind, status=VersionStatus.CHAMPION).first()


def version_create(
    *, project: Project, kind: str, champion: bool, reason: str = "", **fields: Any
) -> ModelVersion:
    """A new version with the next number; as champion (the previous one archived) or as given by ``status``.

    Call inside a transaction that holds the round's row lock, so one round writes its versions once.
    """
    with transaction.atomic():
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
        last = ModelVersion.objects.filter(project=project, kind=kind).aggregate(n=Max("number"))["n"]
        status = fields.pop("status", VersionStatus.CANDIDATE)
        if champion:
            _champion_archive(project=project, kind=kind)
            status = VersionStatus.CHAMPION
        return ModelVersion.objects.create(
            project=project,
            kind=kind,
            number=(last or 0) + 1,
            status=status,
            status_reason=reason,
            status_changed_at=timezone.now(),
            libraries=libraries_versions(),
            **fields,
        )


def _champion_archive(*, project: Project, kind: str) -> None:
    ModelVersion.objects.filter(project=project, kind=kind, status=VersionStatus.CHAMPION).update(
        status=VersionStatus.ARCHIVED,
        status_reason="replaced by a newer champion",
        status_changed_at=timezone.now(),
    )


def version_promote(*, version: ModelVersion, reason: str = "promoted by hand") -> ModelVersion:
    """Make this version its project's champion of its kind; the previous champion is archived."""
    with transaction.atomic():
        Project.objects.select_for_update(no_key=True).filter(pk=version.project_id).first()
        version.refresh_from_db()
        if version.status == VersionStatus.CHAMPION:
            return version
        _champion_archive(project=version.project, kind=version.kind)
        _status_set(version, VersionStatus.CHAMPION, reason)
    return version


def version_reject(*, version: ModelVersion, reason: str) -> ModelVersion:
    """Reject a version; a rejected champion hands the title back to the policy it was trained from (or,
    were that one rejected, its nearest ancestor that is not). The base policy v0 is never rejected."""
    with transaction.atomic():
        Project.objects.select_for_update(no_key=True).filter(pk=version.project_id).first()
        version.refresh_from_db()  # the champion may have changed since the caller read it
        version_reject_check(version=version, reason=reason)
        heir = _champion_heir(version) if version.status == VersionStatus.CHAMPION else None
        _status_set(version, VersionStatus.REJECTED, reason[:500])
        if heir is not None:
            _status_set(heir, VersionStatus.CHAMPION, f"{version.label} was rejected")
    return version


def version_reject_check(*, version: ModelVersion, reason: str) -> None:
    """Raise ``VersionRefused`` if ``version_reject`` would refuse this version, as it stands, and reason."""
    if not reason.strip():
        raise VersionRefused(REASON_NEEDED, field="reason")
    if version.kind == VersionKind.POLICY and version.number == 0:
        raise VersionRefused(f"{version.label} is the plan's base policy, where every lineage starts; it cannot be rejected")
    if version.status == VersionStatus.CHAMPION and _champion_heir(version) is None:
        raise VersionRefused(
            f"{version.label} is the champion and has no parent to fall back to; promote another version first"
        )


def _champion_heir(version: ModelVersion) -> ModelVersion | None:
    """The nearest ancestor not rejected: a rejected champion's title goes back to it, never to a version
    a person rejected."""
    ancestor = version.parent
    while ancestor is not None and ancestor.status == VersionStatus.REJECTED:
        ancestor = ancestor.parent
    return ancestor


def _status_set(version: ModelVersion, status: str, reason: str) -> None:
    version.status, version.status_reason, version.status_changed_at = status, reason, timezone.now()
    version.save(update_fields=["status", "status_reason", "status_changed_at"])
