"""The data layout of Dawid–Skene's EM (``annotate.aggregation.dawid_skene``): blocks of items, slots of votes.

Speed: no per-vote Python. Items are cut into blocks; within a block the j-th votes of
all items form a slot, so an E-step is a gather `log(confusion)[class][key]` per slot and
class and the M-step's expected counts a `bincount` per slot and class, all over
class-major (4, items) arrays. Each EM iteration is one pass over the blocks (E-step, then
the block's share of the M-step's sums), spread over threads. The plain, one-coin and
left-pick models all run through these blocks; only their M-steps differ
(``annotate.aggregation.dawid_skene_m_step``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from annotate.aggregation.labels import N_LABELS

# Votes beyond this rank within an item go through one sparse matrix instead of a slot:
# overlap targets are small (3-5), so slots cover nearly every vote.
MAX_SLOTS: Final = 8
# Items per block. Measured on 1M votes (bench/aggregate.py): from 32k items up the time
# per vote is flat — the fixed cost of a block's ~60 NumPy calls is paid back — while a
# million votes still make five or more blocks for the threads to share.
BLOCK_ITEMS: Final = 65_536
# Below this many items one thread is faster than handing blocks to a pool.
MIN_ITEMS_PER_THREAD: Final = 50_000

_Slot = tuple[npt.NDArray[np.int64] | None, npt.NDArray[np.int64]]


class VoteBlock:
    """The votes of items lo..hi-1, regrouped for fast E- and M-steps.

    Slot j holds the j-th vote of every item that has more than j votes. Within a slot no
    item repeats, so an E-step is one gather per slot and class (`log_error[class][key]`)
    added into the item row, and an M-step one `bincount` per slot and class — no scatter
    with repeated indices. Arrays are class-major, (4, items): every gather, reduction and
    bincount runs over contiguous memory, where NumPy's length-4 axes are slow. A block's
    E-step is followed at once by its share of the next M-step's sums, while its
    posteriors are fresh; blocks are independent, so threads take them in turn.
    """

    def __init__(
        self,
        lo: int,
        hi: int,
        sorted_item: npt.NDArray[np.int64],
        sorted_key: npt.NDArray[np.int64],
        rank: npt.NDArray[np.int64],
        n_keys: int,
        voted: npt.NDArray[np.float64],
        gold_item: npt.NDArray[np.int64],
        gold_label: npt.NDArray[np.int64],
    ) -> None:
        self.lo, self.hi, self.n_keys = lo, hi, n_keys
        self.slots: list[_Slot] = []
        for slot in range(min(MAX_SLOTS, int(rank.max(initial=-1)) + 1)):
            in_slot = rank == slot
            # Item numbers relative to lo; None when the slot has a vote for every item.
            slot_items = sorted_item[in_slot] - lo
            self.slots.append((None if slot_items.size == hi - lo else slot_items, sorted_key[in_slot]))
        tail = rank >= MAX_SLOTS
        self.tail = sp.csr_matrix(
            sp.coo_matrix(
                (np.ones(int(tail.sum())), (sorted_item[tail] - lo, sorted_key[tail])),
                shape=(hi - lo, n_keys),
            )
        )
        self.tail_transposed = self.tail.T.tocsr()
        # None when every item has a vote (the usual case): sums then need no weights.
        self.voted = None if voted[lo:hi].all() else voted[lo:hi]
        in_block = (gold_item >= lo) & (gold_item < hi)
        self.gold_item = gold_item[in_block] - lo
        self.gold_label = gold_label[in_block]

    def log_joint(
        self, log_error: npt.NDArray[np.float64], log_prior: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """(4, hi-lo): log p(z) + Σ over each item's votes of log_error[z, key], for a (4, n_keys) table."""
        total = np.empty((N_LABELS, self.hi - self.lo))
        total[:] = log_prior[:, None]
        for slot_items, slot_keys in self.slots:
            for label in range(N_LABELS):
                # Fancy indexing of a 1-d array is NumPy's fastest gather (faster than take).
                gathered = log_error[label][slot_keys]
                if slot_items is None:
                    total[label] += gathered
                else:
                    total[label, slot_items] += gathered
        if self.tail.nnz:
            total += (self.tail @ log_error.T).T
        return total

    def key_sums(self, posteriors: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """(4, n_keys): for each key, the sum over its votes of the (4, hi-lo) posteriors of their items."""
        total = np.zeros((N_LABELS, self.n_keys))
        for slot_items, slot_keys in self.slots:
            for label in range(N_LABELS):
                weights = posteriors[label] if slot_items is None else posteriors[label][slot_items]
                total[label] += np.bincount(slot_keys, weights=weights, minlength=self.n_keys)
        if self.tail.nnz:
            total += (self.tail_transposed @ posteriors.T).T
        return total

    def voted_sum(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Sum over the block's voted items along the last axis."""
        return values.sum(axis=-1) if self.voted is None else values @ self.voted


@dataclass(frozen=True)
class BlockSums:
    """A block's share of the M-step and of the log-likelihood."""

    key_sums: npt.NDArray[np.float64]
    """(4, n_keys) summed posteriors per (worker, given label) key."""
    prior_sums: npt.NDArray[np.float64]
    """(4,) summed posteriors of the voted items."""
    log_likelihood: float
    """Σ log p(votes of the item | θ) over the voted items."""


def vote_blocks(
    item: npt.NDArray[np.int64],
    key: npt.NDArray[np.int64],
    n_items: int,
    n_keys: int,
    voted: npt.NDArray[np.float64],
    gold_item: npt.NDArray[np.int64],
    gold_label: npt.NDArray[np.int64],
) -> list[VoteBlock]:
    order = np.argsort(item, kind="stable")
    sorted_item = item[order]
    sorted_key = key[order]
    votes_per_item = np.bincount(item, minlength=n_items)
    first_vote = np.cumsum(votes_per_item) - votes_per_item
    rank = np.arange(item.size) - first_vote[sorted_item]
    n_blocks = max(1, -(-n_items // BLOCK_ITEMS))
    bounds = np.linspace(0, n_items, n_blocks + 1).astype(np.int64)
    vote_bounds = np.searchsorted(sorted_item, bounds)
    return [
        VoteBlock(
            int(bounds[i]),
            int(bounds[i + 1]),
            sorted_item[vote_bounds[i] : vote_bounds[i + 1]],
            sorted_key[vote_bounds[i] : vote_bounds[i + 1]],
            rank[vote_bounds[i] : vote_bounds[i + 1]],
            n_keys,
            voted,
            gold_item,
            gold_label,
        )
        for i in range(n_blocks)
    ]


def em_block(
    block: VoteBlock,
    log_error: npt.NDArray[np.float64],
    log_prior: npt.NDArray[np.float64],
    posteriors: npt.NDArray[np.float64],
) -> BlockSums:
    """E-step for the block's items, written into the (4, n_items) posteriors; then the block's sums for the M-step."""
    log_joint = block.log_joint(log_error, log_prior)
    row_max = np.maximum(np.maximum(log_joint[0], log_joint[1]), np.maximum(log_joint[2], log_joint[3]))
    log_joint -= row_max
    scaled = np.exp(log_joint, out=posteriors[:, block.lo : block.hi])
    row_sum = scaled[0] + scaled[1]
    row_sum += scaled[2]
    row_sum += scaled[3]
    scaled /= row_sum
    item_log_likelihood = np.log(row_sum)
    item_log_likelihood += row_max
    if block.gold_item.size:
        # Gold items: log p(votes, z = gold), the complete-data term EM maximises for observed z.
        item_log_likelihood[block.gold_item] += np.log(scaled[block.gold_label, block.gold_item])
        scaled[:, block.gold_item] = 0.0
        scaled[block.gold_label, block.gold_item] = 1.0
    return BlockSums(
        block.key_sums(scaled), block.voted_sum(scaled), float(block.voted_sum(item_log_likelihood))
    )


def block_threads(n_threads: int | None, n_items: int, n_blocks: int) -> int:
    """How many threads share the blocks: `n_threads` (default: CPU count, at most 4), one for small inputs."""
    if n_threads is None:
        n_threads = min(os.cpu_count() or 1, 4)
    return max(1, min(n_threads, n_items // MIN_ITEMS_PER_THREAD, n_blocks))
