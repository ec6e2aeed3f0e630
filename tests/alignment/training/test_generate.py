from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alignment.training.config import GenerateConfig
from tests.alignment.training.shared import step_config
from tests.alignment.training.test_ppo import lowercase_share

PROMPTS = [{"prompt": f"Tell me thing {i}."} for i in range(5)]


@pytest.mark.slow
class GenerateTests:
    def test_it_samples_n_responses_per_prompt_in_batches(self, tmp_path: Path) -> None:
        from alignment.training.generate import generate

        config = step_config(
            GenerateConfig, num_return_sequences=3, batch_size=2, response_length=12, temperature=1.0
        )
        result = generate(config, PROMPTS, tmp_path, reward_fn=lowercase_share)
        lines = [json.loads(line) for line in Path(result.output_path).read_text().splitlines()]
        assert [line["prompt"] for line in lines] == [p["prompt"] for p in PROMPTS]
        assert all(len(line["responses"]) == 3 and len(line["scores"]) == 3 for line in lines)
        assert result.responses == 15
        assert len({r for line in lines for r in line["responses"]}) > 10  # sampled, not greedy copies
        for line in lines:
            assert line["best_score"] == max(line["scores"])
            assert line["scores"] == pytest.approx(lowercase_share([line["prompt"]] * 3, line["responses"]))
        assert result.metrics["best_of_n_reward_mean"] >= result.metrics["reward_mean"]

    def test_it_keeps_the_best_of_n_by_reward(self, tmp_path: Path) -> None:
        from alignment.training.generate import generate

        plain = step_config(GenerateConfig, num_return_sequences=4, response_length=12)
        sampled = generate(
            plain,
            PROMPTS,
            tmp_path / "all",
            reward_fn=lowercase_share,
        )
        config = step_config(
            GenerateConfig,
            num_return_sequences=4,
            response_length=12,
            best_of_n=True,
            reward_model="unused-when-reward_fn-is-given",
        )
        best = generate(config, PROMPTS, tmp_path / "best", reward_fn=lowercase_share)
        everything = [json.loads(x) for x in Path(sampled.output_path).read_text().splitlines()]
        kept = [json.loads(x) for x in Path(best.output_path).read_text().splitlines()]
        for full, one in zip(everything, kept, strict=True):
            assert one["responses"] == [full["best"]]
            assert one["scores"] == [max(full["scores"])]

    def test_it_writes_each_prompt_as_it_was_given(self, tmp_path: Path) -> None:
        from alignment.training.generate import generate

        chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
        rows: list[dict[str, Any]] = [{"prompt": chat}, {"prompt": "Name a prime."}]
        config = step_config(GenerateConfig, num_return_sequences=2, response_length=6)
        result = generate(config, rows, tmp_path)
        lines = [
            json.loads(line) for line in Path(result.output_path).read_text(encoding="utf-8").splitlines()
        ]
        # Turns stay turns (not the "user: …\nassistant: " text the model was given), so the file
        # imports into Concord (kind "responses") onto the same prompts.
        assert [line["prompt"] for line in lines] == [chat, "Name a prime."]
        assert all(len(line["responses"]) == 2 for line in lines)
