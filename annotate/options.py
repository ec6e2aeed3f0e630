"""The error a rule over a set of options raises, naming the option it is about.

The rule is stated once (``SnapshotFilters``, ``export_options_check``); a page's form, an API serializer
and a command each show its message at that option instead of restating the rule. Standard library only,
so the pure ``annotate.aggregation`` modules may raise it.
"""

from __future__ import annotations


class OptionInvalid(ValueError):
    """``str()`` is "<option> <message>"; ``option`` and ``message`` are the parts."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option} {message}")
        self.option = option
        self.message = message
