"""A whole file: check every record first, then hand over the normalised records to write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from annotate.importing.kinds import KINDS, Record, RecordInvalid, columns_check
from annotate.importing.limits import ImportLimits
from annotate.importing.problems import MAX_PROBLEMS, ImportProblem, ImportRejected, rejected
from annotate.importing.readers import records_open
from annotate.importing.records import record_parse
from annotate.importing.source import Position, RecordSource, Unreadable

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 1000


def _problem(position: Position, field: str | None, message: str) -> ImportProblem:
    return ImportProblem(line=position.line, record=position.record, field=field, message=message)


def kind_check(kind: str) -> None:
    """Reject an unknown kind of import, naming the known ones."""
    if kind not in KINDS:
        raise rejected(f'unknown kind "{kind}"; use one of: {", ".join(KINDS)}')


def _source(*, path: Path, fmt: str, kind: str, limits: ImportLimits) -> RecordSource:
    kind_check(kind)
    source = records_open(path=path, fmt=fmt, limits=limits)
    if source.columns is not None:
        # A bad header would fail every row; say it once, about the header.
        header = Position(line=1) if fmt == "csv" else Position()
        problems = [_problem(header, f, m) for f, m in columns_check(kind=kind, columns=source.columns)]
        if problems:
            raise ImportRejected(problems)
    return source


def file_check(
    *, path: str | Path, fmt: str, kind: str, limits: ImportLimits, progress: Progress | None = None
) -> int:
    """The number of records in a file in which every record is good; else ``ImportRejected`` with the problems."""
    try:
        return _file_check(path=Path(path), fmt=fmt, kind=kind, limits=limits, progress=progress)
    except OSError as exc:  # a directory, no permission, a disk error: about the file, not a crash
        raise rejected(f"cannot read the file: {exc.strerror or exc}") from exc


def _file_check(*, path: Path, fmt: str, kind: str, limits: ImportLimits, progress: Progress | None) -> int:
    folder = fmt == "hf_dataset" and path.is_dir()  # a datasets folder, given on the command line
    if not path.is_file() and not folder:
        raise rejected(
            "cannot read the file: it is not a file"
            if path.exists()
            else "cannot read the file: no such file"
        )
    if not folder and path.stat().st_size == 0:
        raise rejected("the file is empty")
    source = _source(path=path, fmt=fmt, kind=kind, limits=limits)
    max_records = limits.max_records
    problems: list[ImportProblem] = []
    truncated = False
    count = 0
    for position, value in source:
        count += 1
        if count > max_records:
            problems.append(
                _problem(
                    Position(),
                    None,
                    f"too many records: the limit is {max_records:,} (CONCORD_IMPORT_MAX_RECORDS)",
                )
            )
            break
        if isinstance(value, Unreadable):
            problems.append(_problem(position, None, value.message))
        else:
            try:
                record_parse(kind=kind, value=value, text_cells=source.text_cells, limits=limits)
            except RecordInvalid as exc:
                problems.extend(_problem(position, f, m) for f, m in exc.problems)
        if isinstance(value, Unreadable) and value.fatal:
            break  # the reader cannot go on; it has said where it stopped
        if len(problems) >= MAX_PROBLEMS:
            truncated = True
            break
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count, 0)
    if problems:
        raise ImportRejected(problems[:MAX_PROBLEMS], truncated=truncated)
    if count == 0:
        raise rejected("the file has no records")
    return count


def file_records(*, path: str | Path, fmt: str, kind: str, limits: ImportLimits) -> Iterator[Record]:
    """The records of a file that ``file_check`` passed, normalised, in file order."""
    source = _source(path=Path(path), fmt=fmt, kind=kind, limits=limits)
    for position, value in source:
        if isinstance(value, Unreadable):
            raise ImportRejected(
                [_problem(position, None, f"{value.message} (the file changed after it was checked)")]
            )
        try:
            yield record_parse(kind=kind, value=value, text_cells=source.text_cells, limits=limits)
        except RecordInvalid as exc:
            raise ImportRejected([_problem(position, f, m) for f, m in exc.problems]) from exc
