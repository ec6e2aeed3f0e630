from __future__ import annotations

from annotate.importing.problems import ImportProblem


class ImportProblemTests:
    def test_it_says_where_and_what(self) -> None:
        assert str(ImportProblem(3, None, "chosen", "expected a string, got number")) == (
            'line 3, field "chosen": expected a string, got number'
        )
        assert str(ImportProblem(None, 7, None, "expected a JSON object, got array")) == (
            "record 7: expected a JSON object, got array"
        )
        assert str(ImportProblem(None, None, None, "the file is empty")) == "the file is empty"
