"""JSON body parsing on the API: DRF's JSONParser against our BoundedJSONParser (depth limit 64).

    .venv/bin/python bench/api_json_parse.py [--repeats 5] [--number 20000]

Bodies: a typical submit, a submit with a 10,000-character rationale full of brackets (the
depth scan runs), a 1 MB flat object, and 100,000 nested arrays (DRF: RecursionError, a 500;
ours: a 400 before json.loads). Times are the best of ``--repeats`` runs of ``--number``
parses, in microseconds per parse. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from rest_framework.exceptions import ParseError  # noqa: E402
from rest_framework.parsers import JSONParser  # noqa: E402

from annotate.api.parsers import BoundedJSONParser  # noqa: E402

BODIES = {
    "submit": json.dumps(
        {"choice": "a", "strength": "better", "rationale": "Clearer and correct.", "seconds_spent": 12.5}
    ),
    "submit, 10k-char rationale of brackets": json.dumps({"choice": "a", "rationale": "[{" * 5_000}),
    "flat object, 1 MB": json.dumps({f"k{i}": "v" * 90 for i in range(10_000)}),
    "100k nested arrays": "[" * 100_000 + "]" * 100_000,
}


def per_parse_us(parser: JSONParser, body: bytes, number: int, repeats: int) -> tuple[float, str]:
    def once() -> str:
        try:
            parser.parse(io.BytesIO(body), "application/json", {})
            return "parsed"
        except ParseError:
            return "400"
        except RecursionError:
            return "RecursionError (500)"

    outcome = once()
    best = min(timeit.repeat(once, number=number, repeat=repeats))
    return 1e6 * best / number, outcome


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--repeats", type=int, default=5)
    args.add_argument("--number", type=int, default=20_000)
    opts = args.parse_args()
    figures: dict[str, dict[str, object]] = {}
    print(f"{'body':<42} {'DRF µs':>10} {'outcome':<22} {'ours µs':>10} {'outcome':<10}")
    for name, text in BODIES.items():
        body = text.encode()
        # Big bodies get fewer parses so that the run stays short.
        number = max(10, opts.number * 100 // max(100, len(body)))
        drf_us, drf_out = per_parse_us(JSONParser(), body, number, opts.repeats)
        ours_us, ours_out = per_parse_us(BoundedJSONParser(), body, number, opts.repeats)
        print(f"{name:<42} {drf_us:>10.1f} {drf_out:<22} {ours_us:>10.1f} {ours_out:<10}")
        figures[name] = {
            "bytes": len(body),
            "drf_us": round(drf_us, 2),
            "drf": drf_out,
            "ours_us": round(ours_us, 2),
            "ours": ours_out,
        }
    print(json.dumps({"bench": "api_json_parse", "results": figures}))


if __name__ == "__main__":
    main()
