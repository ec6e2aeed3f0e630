"""How every step starts and ends: its checked config and output folder, a JSON-serialisable result
dataclass written to that folder, and the progress callback type."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from alignment.training.config import StepConfig
    from alignment.training.memory import MemoryEstimate

Progress = Callable[[dict[str, Any]], None]
"""Called with plain dicts: {"event": "start"|"step"|"end", ...figures}."""


@dataclass
class StepResult:
    """Fields shared by every step's result."""

    step: str = ""
    out_dir: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (NaN/inf become null), ready for a JSONField."""
        return _finite(dataclasses.asdict(self))

    def write(self) -> Path:
        """Write the result as result.json in the output folder and return its path."""
        path = Path(self.out_dir) / "result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path


@dataclass
class PolicyResult(StepResult):
    """Outcome of a TRL policy step (SFT, DPO, RLOO): the policy folder and the trainer's log history."""

    policy_path: str = ""
    history: list[dict[str, float]] = field(default_factory=list)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def emit(progress: Progress | None, event: str, **figures: Any) -> None:
    """Send one event to the progress callback, if any."""
    if progress is not None:
        progress({"event": event, **figures})


_C = TypeVar("_C", bound="StepConfig")
_R = TypeVar("_R", bound=StepResult)


@dataclass
class StepContext:
    """What a running step carries to its end: its name, output folder, start time and progress callback."""

    step: str
    out: Path
    progress: Progress | None
    started: float = field(default_factory=time.perf_counter)

    def finish(
        self,
        result_type: type[_R],
        *,
        metrics: dict[str, float],
        memory: MemoryEstimate | None = None,
        end: dict[str, Any] | None = None,
        **fields: Any,
    ) -> _R:
        """Build the step's result, write it as result.json and send the "end" event (metrics and `end`)."""
        result = result_type(
            step=self.step,
            out_dir=str(self.out),
            metrics=metrics,
            memory=memory.to_dict() if memory is not None else {},
            elapsed_s=time.perf_counter() - self.started,
            **fields,
        )
        result.write()
        emit(self.progress, "end", **metrics, **(end or {}))
        return result


def begin_step(
    config: _C, out_dir: str | Path, progress: Progress | None, *, reward_fn: bool = False
) -> tuple[_C, StepContext]:
    """The config checked against its models (`locate.preflight`), and the step's context with its output
    folder created."""
    from alignment.training.locate import preflight

    started = time.perf_counter()
    config = preflight(config, reward_fn=reward_fn)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return config, StepContext(step=config.STEP, out=out, progress=progress, started=started)


def prompt_batches(
    prompts: list[str], batch_size: int, progress: Progress | None
) -> Iterator[tuple[int, list[str]]]:
    """(start index, batch) over `prompts`; after each batch a "step" event counts the prompts done."""
    for start in range(0, len(prompts), batch_size):
        yield start, prompts[start : start + batch_size]
        done = min(start + batch_size, len(prompts))
        emit(progress, "step", step=done, total_steps=len(prompts), unit="prompt")
