"""The serving path's SQL: what runs is the text of ``annotate/sql/<name>.sql``."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection

from annotate import access
from annotate.db import sql_statement
from annotate.models import Choice, Comparison, Project
from annotate.services import assignment, judgments
from annotate.services.assignment import comparison_next_for_annotator
from annotate.services.judgments import assignment_skip, judgment_submit_and_lease_next
from tests.factories import make_comparisons

SQL_DIR = Path(__file__).resolve().parents[2] / "annotate" / "sql"


def _as_written(name: str) -> str:
    """The file's text read independently of annotate/db.py: comments off, blanks collapsed."""
    text = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    return " ".join(" ".join(line.split("--")[0] for line in text.splitlines()).split())


def _as_prepared(sql: str) -> str:
    """The statement as the server stores it: psycopg numbers named parameters by first appearance."""
    numbers: dict[str, int] = {}
    return re.sub(r"%\((\w+)\)s", lambda m: f"${numbers.setdefault(m.group(1), len(numbers) + 1)}", sql)


def _project_columns() -> str:
    return ", ".join(f'pr."{field.column}"' for field in Project._meta.concrete_fields)


# Each statement the serving path runs, by its file, with what fills each ``{fragment}`` of the file.
STATEMENTS = {
    "lease_new": (lambda: assignment.LEASE_NEW_SQL, {}),
    "submit_and_lease_next": (
        lambda: judgments.SUBMIT_AND_LEASE_NEXT_SQL,
        {"may_annotate": lambda: _as_written("may_annotate")},
    ),
    "lease_project": (
        lambda: access._LEASE_PROJECT,
        {"may_annotate": lambda: _as_written("may_annotate"), "project_columns": _project_columns},
    ),
}


class SqlStatementTests:
    @pytest.mark.parametrize("name", sorted(STATEMENTS))
    def test_it_runs_each_file_as_written(self, name: str) -> None:
        running, fragments = STATEMENTS[name]
        expected = _as_written(name)
        for placeholder, fill in fragments.items():
            assert expected.count(f"{{{placeholder}}}") == 1
            expected = expected.replace(f"{{{placeholder}}}", fill())
        assert running() == expected
        assert "{" not in running() and "--" not in running()

    @pytest.mark.parametrize("name", sorted(STATEMENTS))
    def test_each_statement_stays_in_psycopgs_parse_cache(self, name: str) -> None:
        running, _ = STATEMENTS[name]
        assert len(running().encode()) <= psycopg._queries.MAX_CACHED_STATEMENT_LENGTH

    def test_the_vote_count_has_an_arm_for_every_choice(self) -> None:
        sql = judgments.SUBMIT_AND_LEASE_NEXT_SQL
        counters = {f.name for f in Comparison._meta.concrete_fields if f.name.startswith("votes_")}
        assert counters == {f"votes_{c}" for c in Choice.values}
        assert set(re.findall(r"\b(votes_\w+) =", sql)) == counters
        assert set(re.findall(r"AS is_(\w+)", sql)) == set(Choice.values)
        winner = re.search(r"winner = CASE (.*?) ELSE '' END", sql)
        assert winner is not None
        assert re.findall(r"THEN '(\w+)'", winner.group(1)) == list(Choice.values)
        for choice in Choice.values:
            assert f"votes_{choice} = c.votes_{choice} + j.is_{choice}," in sql
            assert f"(choice = '{choice}')::int AS is_{choice}" in sql
            others = ", ".join(f"c.votes_{o} + j.is_{o}" for o in Choice.values if o != choice)
            assert f"WHEN c.votes_{choice} + j.is_{choice} > GREATEST({others}) THEN '{choice}'" in sql

    def test_the_access_rule_is_one_text(self) -> None:
        rule = access.may_annotate_sql()
        assert rule == _as_written("may_annotate")
        assert judgments.SUBMIT_AND_LEASE_NEXT_SQL.count(rule) == 1
        assert access._LEASE_PROJECT.count(rule) == 1

    def test_a_fragment_missing_or_left_over_is_an_error(self) -> None:
        with pytest.raises(
            ValueError, match=r"lease_project.sql names the fragments \['may_annotate', 'project_columns'\]"
        ):
            sql_statement("lease_project", may_annotate=access.may_annotate_sql())
        with pytest.raises(ValueError, match=r"lease_new.sql names the fragments \[\], given \['extra'\]"):
            sql_statement("lease_new", extra="true")


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
class PreparedStatementTests:
    def test_postgresql_prepares_exactly_the_files(self, project: Project, annotator: User) -> None:
        make_comparisons(project, 3)
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None
        _, upcoming = judgment_submit_and_lease_next(assignment_id=lease.pk, annotator=annotator, choice="a")
        assert upcoming is not None
        assignment_skip(assignment_id=upcoming.pk, annotator=annotator, project=project)
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = {row[0] for row in cursor.fetchall()}
        for sql in (assignment.LEASE_NEW_SQL, judgments.SUBMIT_AND_LEASE_NEXT_SQL, access._LEASE_PROJECT):
            assert _as_prepared(sql) in prepared
