"""Aggregation benchmark: our majority vote and Dawid–Skene against crowd-kit 1.4.2 on simulated votes.

    .venv/bin/python bench/aggregate.py [--votes 1000000] [--no-peer] [--peer-one-coin] [--repeats 3]

Votes come from `annotate.simulation` (k = 3 votes per item, 1,000 annotators,
20% spammers), so accuracy is measured against the hidden true label. Dawid–Skene
runs exactly 50 EM iterations on both sides (no early stop) so the timings compare
the same work. Our timings are the best of `--repeats` runs (the machine is shared;
all runs are printed); crowd-kit runs once. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotate.aggregation.dawid_skene import dawid_skene
from annotate.aggregation.majority import majority_vote
from annotate.simulation import simulate_votes

EM_ITERATIONS = 50
N_WORKERS = 1000
SPAMMER_SHARE = 0.2
VOTES_PER_ITEM = 3


def timed(run: Callable[[], Any], repeats: int) -> tuple[Any, float, list[float]]:
    """Return the last result, the best wall time and all wall times of `repeats` runs."""
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return result, min(times), times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--votes", type=int, default=1_000_000, help="number of simulated votes (default 1,000,000)"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip crowd-kit")
    parser.add_argument(
        "--peer-one-coin",
        action="store_true",
        help="also time crowd-kit's OneCoinDawidSkene (slow: about 2 minutes for 1M votes here)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of our code to take the best time of")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    n_items = max(1, args.votes // VOTES_PER_ITEM)
    start = time.perf_counter()
    votes = simulate_votes(
        n_items=n_items,
        votes_per_item=VOTES_PER_ITEM,
        n_workers=N_WORKERS,
        spammer_share=SPAMMER_SHARE,
        seed=args.seed,
    )
    simulate_seconds = time.perf_counter() - start
    truth = votes.true_label
    print(
        f"simulated {votes.item.size:,} votes on {n_items:,} items by {N_WORKERS:,} annotators "
        f"({SPAMMER_SHARE:.0%} spammers) in {simulate_seconds:.2f} s"
    )

    majority, mv_seconds, mv_times = timed(
        lambda: majority_vote(votes.item, votes.label, n_items=n_items), args.repeats
    )
    # Accuracy with ties broken by label order, as crowd-kit's MajorityVote does; undecided share shown apart.
    mv_accuracy = float(np.mean(majority.label_weight.argmax(axis=1) == truth))
    mv_undecided = float(np.mean(majority.winner < 0))
    ds, ds_seconds, ds_times = timed(
        lambda: dawid_skene(
            votes.item, votes.worker, votes.label, n_items=n_items, max_iter=EM_ITERATIONS, tol=None
        ),
        args.repeats,
    )
    ds_accuracy = float(np.mean(ds.labels == truth))
    one_coin, one_coin_seconds, one_coin_times = timed(
        lambda: dawid_skene(
            votes.item,
            votes.worker,
            votes.label,
            n_items=n_items,
            model="one_coin",
            max_iter=EM_ITERATIONS,
            tol=None,
        ),
        args.repeats,
    )
    one_coin_accuracy = float(np.mean(one_coin.labels == truth))

    rows = [
        ("majority vote", "ours", mv_seconds, mv_accuracy),
        (f"Dawid–Skene ({EM_ITERATIONS} it.)", "ours", ds_seconds, ds_accuracy),
        (f"one-coin DS ({EM_ITERATIONS} it.)", "ours", one_coin_seconds, one_coin_accuracy),
    ]
    figures: dict[str, Any] = {
        "votes": int(votes.item.size),
        "items": n_items,
        "workers": N_WORKERS,
        "ds_seconds": round(ds_seconds, 3),
        "ds_accuracy": round(ds_accuracy, 4),
        "one_coin_seconds": round(one_coin_seconds, 3),
        "one_coin_accuracy": round(one_coin_accuracy, 4),
        "mv_seconds": round(mv_seconds, 3),
        "mv_accuracy": round(mv_accuracy, 4),
        "mv_undecided": round(mv_undecided, 4),
    }

    if not args.no_peer:
        import pandas as pd
        from crowdkit.aggregation import DawidSkene, MajorityVote, OneCoinDawidSkene

        frame = pd.DataFrame({"task": votes.item, "worker": votes.worker, "label": votes.label})

        def crowdkit_accuracy(labels: pd.Series) -> float:
            return float(np.mean(labels.reindex(range(n_items)).to_numpy() == truth))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # crowd-kit 1.4.2 trips pandas 3 deprecation warnings.
            peer_mv, peer_mv_seconds, _ = timed(lambda: MajorityVote().fit_predict(frame), 1)
            peer_ds, peer_ds_seconds, _ = timed(
                lambda: DawidSkene(n_iter=EM_ITERATIONS, tol=-np.inf).fit_predict(frame), 1
            )
        rows += [
            ("majority vote", "crowd-kit", peer_mv_seconds, crowdkit_accuracy(peer_mv)),
            (f"Dawid–Skene ({EM_ITERATIONS} it.)", "crowd-kit", peer_ds_seconds, crowdkit_accuracy(peer_ds)),
        ]
        figures |= {
            "crowdkit_mv_seconds": round(peer_mv_seconds, 3),
            "crowdkit_mv_accuracy": round(crowdkit_accuracy(peer_mv), 4),
            "crowdkit_ds_seconds": round(peer_ds_seconds, 3),
            "crowdkit_ds_accuracy": round(crowdkit_accuracy(peer_ds), 4),
            "ds_speedup": round(peer_ds_seconds / ds_seconds, 1),
        }
        if args.peer_one_coin:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                peer_one_coin, peer_one_coin_seconds, _ = timed(
                    lambda: OneCoinDawidSkene(n_iter=EM_ITERATIONS, tol=-np.inf).fit_predict(frame), 1
                )
            peer_one_coin_accuracy = crowdkit_accuracy(peer_one_coin)
            rows.append(
                (
                    f"one-coin DS ({EM_ITERATIONS} it.)",
                    "crowd-kit",
                    peer_one_coin_seconds,
                    peer_one_coin_accuracy,
                )
            )
            figures |= {
                "crowdkit_one_coin_seconds": round(peer_one_coin_seconds, 3),
                "crowdkit_one_coin_accuracy": round(peer_one_coin_accuracy, 4),
            }

    print()
    print(f"{'method':<24} {'tool':<10} {'seconds':>9} {'accuracy':>9}")
    print("-" * 55)
    for method, tool, seconds, accuracy in sorted(rows, key=lambda row: (row[0], row[1] != "ours")):
        print(f"{method:<24} {tool:<10} {seconds:>9.3f} {accuracy:>9.4f}")
    print()
    print(
        f"our runs (s): majority {', '.join(f'{t:.3f}' for t in mv_times)}; "
        f"DS {', '.join(f'{t:.2f}' for t in ds_times)}; one-coin {', '.join(f'{t:.2f}' for t in one_coin_times)}"
    )
    print(
        f"majority vote leaves {mv_undecided:.1%} of items undecided (tied); accuracy above breaks ties by label order"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
