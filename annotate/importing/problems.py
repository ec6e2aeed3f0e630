"""What is wrong with an import file, said so that a person can fix it."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from annotate.services.errors import ServiceError

# Enough to show the pattern of what is wrong without building a second copy of a bad file.
MAX_PROBLEMS = 100
# Problems quote what the file holds (a field name, a value); a quote is cut to this.
MAX_FIELD_SHOWN = 120
MAX_MESSAGE_SHOWN = 600
# What PostgreSQL cannot store in text or jsonb: NUL, and surrogates that are not part of a pair.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def shown(text: str, limit: int) -> str:
    """Text from a file made safe to store and print: NUL and lone surrogates escaped, cut to ``limit``."""
    # Cut before escaping, so that a huge text is not copied whole; cut again after, as escapes grow it.
    text = UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One problem: ``line`` for JSONL and CSV (1-based physical line), ``record`` for JSON and Parquet."""

    line: int | None
    record: int | None
    field: str | None
    message: str

    def __post_init__(self) -> None:
        # A problem is stored (ImportJob.errors) and shown: it must not carry the file's NULs or
        # megabytes. Frozen, so set through object.
        if self.field is not None:
            object.__setattr__(self, "field", shown(self.field, MAX_FIELD_SHOWN))
        object.__setattr__(self, "message", shown(self.message, MAX_MESSAGE_SHOWN))

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
