from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.alignment.training.test_reward import preference_set

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
class CommandLineTests:
    def test_it_trains_from_a_config_and_data_file_and_prints_a_summary(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from alignment.training.cli import main

        data = tmp_path / "pairs.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in preference_set(48)))
        config = tmp_path / "rm.json"
        config.write_text(
            json.dumps(
                {
                    "strategy": "reward",
                    "task": "text-generation",
                    "provider": "huggingface",
                    "learning_rate": 1e-3,
                    "per_device_train_batch_size": 16,
                    "num_train_epochs": 1,
                    "eval_split": 0.25,
                }
            )
        )
        assert (
            main(["reward", "--config", str(config), "--data", str(data), "--out", str(tmp_path / "rm")]) == 0
        )
        out, err = capsys.readouterr()
        assert "memory estimate" in err and "training" in err  # the estimate, then the progress bar
        assert out.startswith("== reward finished in ")
        assert "eval_accuracy" in out and f"{tmp_path}/rm/result.json" in out
        stored = json.loads((tmp_path / "rm" / "result.json").read_text())
        assert stored["model_path"] == str(tmp_path / "rm" / "reward_model")

        ppo = tmp_path / "ppo.json"
        ppo.write_text(
            json.dumps(
                {
                    "strategy": "rlhf",
                    "reward_model": stored["model_path"],
                    "max_steps": 2,
                    "per_device_train_batch_size": 4,
                    "response_length": 8,
                }
            )
        )
        assert (
            main(
                [
                    "rlhf",
                    "--config",
                    str(ppo),
                    "--data",
                    str(data),
                    "--out",
                    str(tmp_path / "ppo"),
                    "--set",
                    "learning_rate=1e-4",
                    "--quiet",
                ]
            )
            == 0
        )
        out, _ = capsys.readouterr()
        assert "== ppo finished in " in out and "steps: 2" in out and "reward_mean_last" in out

    def test_it_exits_2_with_the_config_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from alignment.training.cli import main

        config = tmp_path / "bad.json"
        config.write_text(json.dumps({"strategy": "rlhf", "provider": "unsloth"}))
        assert main(["rlhf", "--config", str(config), "--data", "x.jsonl", "--out", str(tmp_path)]) == 2
        assert capsys.readouterr().err.strip() == (
            'error: \'provider\' = "unsloth" is not supported; allowed values: "huggingface"'
        )


@pytest.mark.slow
class NoDjangoTests:
    def test_it_imports_and_trains_without_django_settings(self, tmp_path: Path) -> None:
        code = f"""
import sys
import torch
torch.set_num_threads(1)
from alignment.training import load_config, run_step, tiny_path
policy = tiny_path("concord/tiny")
config = load_config({{"strategy": "ppo", "model_name": str(policy), "max_steps": 2,
                      "per_device_train_batch_size": 4, "response_length": 8}})
result = run_step(config, [{{"prompt": "hi"}}, {{"prompt": "yo"}}], {str(tmp_path / "out")!r},
                  reward_fn=lambda p, r: [float(len(x)) for x in r])
assert result.steps == 2, result
assert "django" not in sys.modules, [m for m in sys.modules if m.startswith("django")]
print("ok", result.to_dict()["steps"])
"""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
        env["PYTHONPATH"] = str(REPO)
        env["CONCORD_MODEL_CACHE"] = str(tmp_path / "models")
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip().endswith("ok 2")
