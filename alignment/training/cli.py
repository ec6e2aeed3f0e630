"""Command line: `python -m alignment.training <step> --config cfg.json [--data file.jsonl] --out DIR`."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

from alignment.training.config import (
    CONFIG_CLASSES,
    STRATEGIES,
    ConfigError,
    StepConfig,
    config_to_dict,
    load_config,
)
from alignment.training.rows import DataError

SUMMARY_KEYS = (
    "reward_mean_first",
    "reward_mean_last",
    "kl_last",
    "kl_max",
    "train_accuracy",
    "eval_accuracy",
    "loss_first",
    "loss_last",
    "reward_first",
    "reward_last",
    "reward_mean",
    "best_of_n_reward_mean",
    "kl",
    "win_rate",
    "win_rate_low",
    "win_rate_high",
    "baseline_reward_mean",
    "reference_reward_mean",
    "response_length_mean",
    "rm_accuracy",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m alignment.training",
        description="Train or evaluate a policy or reward model from a JSON config and a data file.",
    )
    parser.add_argument("step", choices=sorted(STRATEGIES), help="what to run (rlhf is PPO)")
    parser.add_argument("--config", help="JSON config file (fine-tuning tool format); defaults if omitted")
    parser.add_argument(
        "--data", help="data file (JSONL, JSON, CSV, Parquet); overrides the config's 'dataset'"
    )
    parser.add_argument("--out", required=True, help="output folder (PPO resumes from its checkpoint)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="override one config key, e.g. --set learning_rate=1e-4 (repeatable)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def read_config(step: str, path: str | None, overrides: Sequence[str], data: str | None) -> StepConfig:
    """The config for `step` from a file, `--set` overrides and `--data`, checked by `load_config`."""
    raw: dict[str, Any] = {}
    if path:
        with open(path) as handle:
            try:
                raw = json.load(handle)
            except json.JSONDecodeError as exc:
                raise ConfigError("", f"{path}: not valid JSON ({exc})") from exc
    for item in overrides:
        key, _, value = item.partition("=")
        try:
            raw[key] = json.loads(value)
        except json.JSONDecodeError:
            raw[key] = value
    if data:
        raw["dataset"] = data
    return load_config(raw, step=STRATEGIES[step])


class ProgressPrinter:
    """Turns progress events into the memory table, a tqdm bar and nothing else."""

    LABELS: ClassVar[dict[str, str]] = {"generate": "generating", "evaluate": "evaluating"}
    """Progress bar label per step (every other step trains)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.label = "training"

    def __call__(self, event: dict[str, Any]) -> None:
        """Handle one event."""
        kind = event.get("event")
        if kind == "start":
            self.label = self.LABELS.get(str(event.get("step")), "training")
            if event.get("memory_table"):
                print(event["memory_table"], file=sys.stderr)
            if event.get("resumed_from_step"):
                print(f"resuming from step {event['resumed_from_step']}", file=sys.stderr)
        elif kind == "step" and not self.quiet:
            total = event.get("total_steps") or None
            if self.bar is None:
                from tqdm import tqdm

                unit = str(event.get("unit", "step"))
                self.bar = tqdm(total=total, desc=self.label, unit=unit, file=sys.stderr)
                self.bar.n = int(event.get("step", 1)) - 1
            self.bar.n = int(event.get("step", self.bar.n + 1))
            shown = {k: f"{event[k]:.3g}" for k in ("reward_mean", "kl", "loss", "reward") if k in event}
            self.bar.set_postfix(shown, refresh=False)
            self.bar.refresh()
        elif kind == "stop":
            print(
                f"stopped: {event.get('reason')} (kl {event.get('kl', 0):.3f} > {event.get('kl_stop')})",
                file=sys.stderr,
            )
        elif kind == "end" and self.bar is not None:
            self.bar.close()


def summary(config: StepConfig, result: dict[str, Any]) -> str:
    """A one-screen summary of a finished step."""
    lines = [
        f"== {config.step} finished in {result.get('elapsed_s', 0):.1f}s ==",
        f"output: {result.get('out_dir')}",
    ]
    for key in ("policy_path", "model_path", "output_path"):
        if result.get(key):
            lines.append(f"{key.replace('_', ' ')}: {result[key]}")
    for key in (
        "steps",
        "episodes",
        "stopped_reason",
        "resumed_from_step",
        "train_pairs",
        "eval_pairs",
        "desirable_rows",
        "undesirable_rows",
        "desirable_weight",
        "undesirable_weight",
        "prompts",
        "responses",
        "pairs",
    ):
        if key in result and result[key] not in (None, ""):
            lines.append(f"{key.replace('_', ' ')}: {result[key]}")
    metrics = result.get("metrics") or {}
    for key in SUMMARY_KEYS:
        if metrics.get(key) is not None:
            lines.append(f"  {key:<24} {metrics[key]:.4f}")
    memory = result.get("memory") or {}
    if memory.get("total_bytes"):
        lines.append(f"memory estimate: {memory['total_bytes'] / 1024**2:.1f} MiB")
    lines.append(f"result: {result.get('out_dir')}/result.json")
    return "\n".join(lines)


def run(config: StepConfig, out: str, *, progress: Any = None) -> dict[str, Any]:
    """Run the step of `config` into `out` and return its result as plain JSON values."""
    from alignment.training import steps

    return steps.run_step(config, None, out, progress=progress).to_dict()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status (2 for a bad config or data file)."""
    args = build_parser().parse_args(argv)
    # Deprecation notices from the training stack are for us, not for the person running a step.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*already has </s>.*")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        config = read_config(args.step, args.config, args.set, args.data)
        if config.dataset is None:
            raise DataError("no data: pass --data or set 'dataset' in the config")
        print(f"{config.step}: {json.dumps(config_to_dict(config))}", file=sys.stderr)
        result = run(config, args.out, progress=ProgressPrinter(args.quiet))
    except (ConfigError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(config, result))
    return 0


__all__ = ["CONFIG_CLASSES", "main"]
