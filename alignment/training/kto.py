"""Kahneman-Tversky optimisation (TRL `KTOTrainer`) on unpaired `{prompt, completion, label}` rows.

KTO (Ethayarajh et al., 2024, "KTO: Model Alignment as Prospect Theoretic Optimization") needs only a
verdict per response, desirable or not, so it learns from what pairwise methods discard: both responses
of a "both bad" comparison are undesirable examples. A `{prompt, chosen, rejected}` row is taken as two
unpaired rows (chosen desirable, rejected undesirable), as TRL does.

With LoRA the reference is the base with adapters disabled; with `lora_r = 0` TRL reloads it from the
model's path, as for DPO. A `reference_model` replaces both (frozen, given to TRL as `ref_model`): an
alignment round starts from the champion and keeps the plan's base as the reference.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment.training.config import KTOConfig
from alignment.training.results import PolicyResult, Progress, begin_step
from alignment.training.rows import DataError, Rows, as_rows, prompt_text, response_text, split_rows

_LABELS = {True: True, False: False, "true": True, "false": False, "1": True, "0": False}
"""Accepted `label` values: JSON booleans, and the text a CSV file gives them."""


@dataclass
class KTOResult(PolicyResult):
    """Outcome of KTO: the policy folder, the trainer's log history, the class counts and the weights used."""

    desirable_rows: int = 0
    undesirable_rows: int = 0
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0


def unpaired_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as TRL's unpaired preference format: text prompt, text completion, boolean label."""
    out: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        if row.get("prompt") in (None, ""):
            raise DataError(f"kto: row {number} has no 'prompt' (needs prompt, completion, label)")
        prompt = prompt_text(row["prompt"])
        if row.get("chosen") not in (None, "") and row.get("rejected") not in (None, ""):
            out.append({"prompt": prompt, "completion": response_text(row["chosen"]), "label": True})
            out.append({"prompt": prompt, "completion": response_text(row["rejected"]), "label": False})
            continue
        if row.get("completion") in (None, ""):
            raise DataError(f"kto: row {number} has no 'completion' (needs prompt, completion, label)")
        label = row.get("label")
        key = label.strip().lower() if isinstance(label, str) else label
        if not isinstance(key, bool | str) or key not in _LABELS:
            raise DataError(f"kto: row {number} has 'label' = {label!r}; it must be true or false")
        out.append({"prompt": prompt, "completion": response_text(row["completion"]), "label": _LABELS[key]})
    return out


def balanced_weights(
    *,
    desirable: int,
    undesirable: int,
    desirable_weight: float | None = None,
    undesirable_weight: float | None = None,
) -> tuple[float, float]:
    """(λ_D, λ_U) for `desirable` and `undesirable` examples; a weight left None is balanced by the counts.

    The KTO paper (Eq. 8) advises λ_D·n_D / λ_U·n_U in [1, 4/3]. A None weight is chosen to make that ratio 1
    (equal total weight per class): with both None the more numerous class keeps weight 1 and the other is
    weighted up, as the paper does for its 1:10 runs. With a class absent there is nothing to balance (1).
    """
    if desirable == 0 or undesirable == 0:
        return desirable_weight or 1.0, undesirable_weight or 1.0
    if desirable_weight is None and undesirable_weight is None:
        if desirable >= undesirable:
            desirable_weight = 1.0
        else:
            undesirable_weight = 1.0
    if desirable_weight is None:
        assert undesirable_weight is not None
        desirable_weight = undesirable_weight * undesirable / desirable
    if undesirable_weight is None:
        undesirable_weight = desirable_weight * desirable / undesirable
    return desirable_weight, undesirable_weight


def train_kto(
    config: KTOConfig, rows: Rows | None, out_dir: str | Path, *, progress: Progress | None = None
) -> KTOResult:
    """Train the policy with KTO; the saved policy has its adapters merged (unless 4-bit)."""
    from trl import KTOConfig as TRLKTOConfig
    from trl import KTOTrainer

    from alignment.training.locate import seq_length
    from alignment.training.trainer_args import common_args, prepare_for_responses

    config, ctx = begin_step(config, out_dir, progress)
    examples = unpaired_rows(as_rows(rows, config.dataset))
    train_rows, eval_rows = split_rows(examples, config.eval_split, seed=config.seed)
    # KTOTrainer reads the data in order (its KL estimate pairs each prompt with its neighbour's completion in the
    # same batch), so a file sorted by label would give one-class batches: shuffle once, seeded.
    random.Random(config.seed).shuffle(train_rows)
    desirable = sum(1 for row in train_rows if row["label"])
    d, u = balanced_weights(
        desirable=desirable,
        undesirable=len(train_rows) - desirable,
        desirable_weight=config.desirable_weight,
        undesirable_weight=config.undesirable_weight,
    )
    policy = prepare_for_responses(
        config, progress, train_rows, eval_rows, padding_side="left", desirable_weight=d, undesirable_weight=u
    )
    args = TRLKTOConfig(
        **common_args(config, ctx.out),
        beta=config.beta,
        loss_type=config.loss_type,
        desirable_weight=d,
        undesirable_weight=u,
        max_length=seq_length(config),
        remove_unused_columns=False,
    )
    counts = {"desirable_rows": desirable, "undesirable_rows": len(train_rows) - desirable}
    weights = {"desirable_weight": d, "undesirable_weight": u}
    return policy.train(ctx, KTOTrainer, KTOResult, args, result_fields={**counts, **weights})
