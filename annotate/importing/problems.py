"""What is wrong with an import file, said so that a person can fix it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from annotate.services.errors import ServiceError

# Enough to show the pattern of what is wrong without building a second copy of a bad file.
MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One problem: ``line`` for JSONL and CSV (1-based physical line), ``record`` for JSON and Parquet."""

    line: int | None
    record: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.field is not None:
            where.append(f'field "{self.field}"')
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ImportRejected(ServiceError):
    """The file was refused and nothing was written; ``problems`` says why, in file order."""

    code = "import_rejected"
    status = 400

    def __init__(self, problems: list[ImportProblem], *, truncated: bool = False) -> None:
        self.problems = problems
        self.truncated = truncated
        if len(problems) == 1:
            message = f"{problems[0]}; nothing was imported"
        else:
            more = f" (stopped looking after {len(problems)})" if truncated else ""
            message = f"{len(problems)} problems{more}; nothing was imported"
        super().__init__(message)


def rejected(
    message: str, *, line: int | None = None, record: int | None = None, field: str | None = None
) -> ImportRejected:
    """A rejection for one problem with the whole file (its size, format or header)."""
    return ImportRejected([ImportProblem(line=line, record=record, field=field, message=message)])
