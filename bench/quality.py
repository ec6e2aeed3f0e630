"""Label-quality benchmark: flags and filter modes on adversarial simulated crowds.

    .venv/bin/python bench/quality.py [--items 6000] [--workers 100] [--votes-per-item 5] [--seeds 3]

Populations (each with no gold and with 10% gold items, every seed):

* ``collusion`` — 15% colluders in groups of 4, each group taking 3 of an item's 5 slots;
* ``drift`` — 25% annotators accurate at first and careless from 30–70% of their votes on;
* ``left`` — 15% position-biased annotators, left-pick rate drawn from 0.2–0.6;
* ``ties`` — an honest crowd on items of which 20% are true ties;
* ``mixed`` — all three bad kinds at once (10% each) on the 20%-ties prior.

The rest of each crowd is honest ("good" and "average" in equal numbers). Flags are
computed as the label-quality page computes them (`annotate.aggregation.flags` with the
project defaults: gold accuracy < 0.6 after 10 gold items, position p < 0.01, median
< 3 s), and aggregation runs as `pair_selection` does, with tie and both-bad votes kept
so that every class can be scored: majority vote, Dawid–Skene, and Dawid–Skene with a
left-pick share ("+pos"), each with flagged annotators' votes kept ("keep", the
unfiltered baseline), dropped ("drop") or down-weighted ("downweight"). The snapshot
default is `SnapshotFilters()`. Accuracy is over the non-gold items against the hidden
true label, averaged over seeds; flag precision and recall pool the seeds' annotators.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotate.aggregation.flags import FLAG_NAMES, annotator_flags_for
from annotate.aggregation.labels import LABEL_NAMES
from annotate.aggregation.treatment import (
    DEFAULT_FLAGGED_MODE,
    DEFAULT_POSITION_AWARE,
    FLAGGED_MODES,
    AggregationName,
    aggregate_labels,
    per_class_accuracy,
    vote_treatment,
)
from annotate.simulation import WORKER_TYPES, simulate_votes

TIES_PRIOR = (0.36, 0.36, 0.2, 0.08)
DEFAULT_PRIOR = (0.4, 0.4, 0.12, 0.08)
BAD_KINDS = ("colluding", "drifting", "position_biased")
# The flag meant to catch each bad kind.
TARGET_FLAG = {"colluding": "collusion", "drifting": "drift", "position_biased": "position"}
METHODS: tuple[tuple[AggregationName, bool], ...] = (
    ("majority", False),
    ("dawid_skene", False),
    ("dawid_skene", True),
)


def population(name: str, n_workers: int) -> tuple[dict[str, int], tuple[float, ...]]:
    shares = {
        "collusion": ({"colluding": 0.15}, DEFAULT_PRIOR),
        "drift": ({"drifting": 0.25}, DEFAULT_PRIOR),
        "left": ({"position_biased": 0.15}, DEFAULT_PRIOR),
        "ties": ({}, TIES_PRIOR),
        "mixed": ({"colluding": 0.1, "drifting": 0.1, "position_biased": 0.1}, TIES_PRIOR),
    }[name]
    counts = {kind: round(share * n_workers) for kind, share in shares[0].items()}
    honest = n_workers - sum(counts.values())
    counts["good"] = honest // 2
    counts["average"] = honest - honest // 2
    return counts, shares[1]


def run_case(name: str, gold_share: float, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    counts, prior = population(name, args.workers)
    votes = simulate_votes(
        n_items=args.items, votes_per_item=args.votes_per_item, worker_counts=counts, prior=prior, seed=seed
    )
    rng = np.random.default_rng([seed, 7])
    gold = np.sort(rng.choice(votes.n_items, size=round(gold_share * votes.n_items), replace=False)).astype(
        np.int64
    )
    started = time.perf_counter()
    flags = annotator_flags_for(votes, gold_item=gold, gold_label=votes.true_label[gold])
    flag_seconds = time.perf_counter() - started
    scored = np.ones(votes.n_items, dtype=bool)
    scored[gold] = False
    truth = votes.true_label[scored]
    accuracy: dict[str, dict[str, Any]] = {}
    for method, position_aware in METHODS:
        for mode in FLAGGED_MODES:
            treatment = vote_treatment(
                flags=flags, worker=votes.worker, mode=mode, position_aware=position_aware, method=method
            )
            result = aggregate_labels(
                votes=votes,
                method=method,
                treatment=treatment,
                position_aware=position_aware,
                gold_item=gold,
                gold_label=votes.true_label[gold],
            )
            predicted = result.labels[scored]
            key = f"{method}{'+pos' if position_aware else ''}/{mode}"
            accuracy[key] = {
                "overall": float((predicted == truth).mean()),
                "per_class": per_class_accuracy(predicted, truth),
            }
    kinds = np.asarray(WORKER_TYPES)[votes.worker_type]
    return {
        "accuracy": accuracy,
        "kinds": kinds,
        "flags": {f: flags.flags[f].copy() for f in FLAG_NAMES},
        "flag_seconds": flag_seconds,
        "unavailable": dict(flags.unavailable),
    }


def precision_recall(
    kinds: np.ndarray, flagged: np.ndarray, target: str
) -> tuple[float | None, float | None]:
    is_target = kinds == target
    precision = float(is_target[flagged].mean()) if flagged.any() else None
    recall = float(flagged[is_target].mean()) if is_target.any() else None
    return precision, recall


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=6000)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--votes-per-item", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    # SnapshotFilters() reads its defaults from these (the bench stays free of Django).
    default_key = (
        f"dawid_skene{'+pos' if DEFAULT_POSITION_AWARE and DEFAULT_FLAGGED_MODE == 'downweight' else ''}"
        f"/{DEFAULT_FLAGGED_MODE}"
    )
    populations = ("collusion", "drift", "left", "ties", "mixed")
    summary: dict[str, Any] = {"cases": {}, "default_filter": default_key}
    print(
        f"{args.items} items × {args.votes_per_item} votes, {args.workers} annotators, seeds 0..{args.seeds - 1}; "
        f"snapshot default for Dawid–Skene: {default_key}"
    )
    all_targets_ok = True
    never_lower = True
    beats = []
    for name in populations:
        for gold_share in (0.0, 0.1):
            case = f"{name}/gold={gold_share:.0%}"
            runs = [run_case(name, gold_share, seed, args) for seed in range(args.seeds)]
            kinds = np.concatenate([r["kinds"] for r in runs])
            flagged = {f: np.concatenate([r["flags"][f] for r in runs]) for f in FLAG_NAMES}
            keys = list(runs[0]["accuracy"])
            mean_accuracy = {k: float(np.mean([r["accuracy"][k]["overall"] for r in runs])) for k in keys}
            per_class = {
                k: [
                    None
                    if runs[0]["accuracy"][k]["per_class"][c] is None
                    else float(np.mean([r["accuracy"][k]["per_class"][c] for r in runs]))
                    for c in range(len(LABEL_NAMES))
                ]
                for k in keys
            }
            print(f"\n== {case}  (flags in {np.mean([r['flag_seconds'] for r in runs]):.2f} s)")
            for reason in sorted(set().union(*[r["unavailable"].values() for r in runs])):
                print(f"   cannot compute: {reason}")
            print(f"   {'method/mode':28} {'overall':>8} " + " ".join(f"{n:>8}" for n in LABEL_NAMES))
            for k in keys:
                print(
                    f"   {k:28} {mean_accuracy[k]:8.4f} "
                    + " ".join(f"{fmt(v, 4):>8}" for v in per_class[k])
                    + ("   ← default" if k == default_key else "")
                )
            present = [kind for kind in BAD_KINDS if (kinds == kind).any()]
            print(
                f"   {'flag':10} {'flagged':>7} {'honest':>7} "
                + " ".join(f"{'recall ' + k[:9]:>17}" for k in present)
                + f" {'precision (its kind)':>21}"
            )
            flag_rows: dict[str, Any] = {}
            honest = np.isin(kinds, ("good", "average"))
            for f in FLAG_NAMES:
                recalls = {k: float(flagged[f][kinds == k].mean()) for k in present}
                target = next((k for k, t in TARGET_FLAG.items() if t == f), None)
                precision = precision_recall(kinds, flagged[f], target)[0] if target in present else None
                flag_rows[f] = {
                    "flagged": int(flagged[f].sum()),
                    "honest_flagged": int(flagged[f][honest].sum()),
                    "recall": recalls,
                    "precision_for_kind": precision,
                }
                print(
                    f"   {f:10} {int(flagged[f].sum()):7d} {int(flagged[f][honest].sum()):7d} "
                    + " ".join(f"{recalls[k]:17.3f}" for k in present)
                    + f" {fmt(precision):>21}"
                )
            targets: dict[str, dict[str, Any]] = {}
            for kind in present:
                precision, recall = precision_recall(kinds, flagged[TARGET_FLAG[kind]], kind)
                ok = precision is not None and recall is not None and precision >= 0.9 and recall >= 0.9
                all_targets_ok &= ok
                targets[kind] = {
                    "flag": TARGET_FLAG[kind],
                    "precision": precision,
                    "recall": recall,
                    "ok": ok,
                }
            # Per seed: the default never below the unfiltered Dawid–Skene, and by how much it beats it.
            gains = [
                r["accuracy"][default_key]["overall"] - r["accuracy"]["dawid_skene/keep"]["overall"]
                for r in runs
            ]
            never_lower &= min(gains) >= 0
            if min(gains) > 0:
                beats.append(case)
            print(
                f"   default − unfiltered Dawid–Skene per seed: {', '.join(f'{g:+.4f}' for g in gains)}"
                + "".join(
                    f"; {k}: P {fmt(t['precision'])} R {fmt(t['recall'])} {'ok' if t['ok'] else 'MISSED'}"
                    for k, t in targets.items()
                )
            )
            # The JSON keeps the headline figures; per-class accuracy and every flag's recall are in the table.
            summary["cases"][case] = {
                "accuracy": {k: round(v, 4) for k, v in mean_accuracy.items()},
                "flag_precision_recall": {
                    kind: [
                        None if t["precision"] is None else round(t["precision"], 3),
                        None if t["recall"] is None else round(t["recall"], 3),
                    ]
                    for kind, t in targets.items()
                },
                "honest_flagged": {
                    f: row["honest_flagged"] for f, row in flag_rows.items() if row["honest_flagged"]
                },
                "default_minus_unfiltered_ds": [round(g, 4) for g in gains],
            }
    summary["targets"] = {
        "flags_precision_recall_0_9": all_targets_ok,
        "default_never_lowers_ds": never_lower,
        "default_beats_ds_on": beats,
    }
    print(
        f"\nflag targets (P ≥ 0.9, R ≥ 0.9 for every bad kind, with and without gold): {all_targets_ok}; "
        f"default never lowers Dawid–Skene: {never_lower}; beats it on {len(beats)} cases: {', '.join(beats)}"
    )
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    main()
