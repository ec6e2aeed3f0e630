"""The Django admin, under the rules of ``annotate.access``.

Django's model permissions say which screens a staff user gets (view, add, change,
delete of each model). On top of them, rows of a project are listed only to those who may
read that project's data (``access.projects_readable_by``), and changed or deleted only
by those who administer it; a project itself is deleted only with ``delete_project``.
Superusers see and change everything.

One module per family of models (``annotation``, ``imports``, ``snapshots``) on the project
scoping of ``scoped``; importing them registers their admins.
"""

from annotate.admin import annotation, imports, snapshots  # noqa: F401
