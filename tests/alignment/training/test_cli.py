from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alignment.training.cli import main
from tests.alignment.training.export_shaped import export_shaped_pairs
from tests.alignment.training.shared import write_jsonl
from tests.alignment.training.test_reward import preference_set

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
class CommandLineTests:
    def test_it_trains_from_a_config_and_data_file_and_prints_a_summary(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        data = write_jsonl(tmp_path / "pairs.jsonl", preference_set(48))
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

    def test_it_runs_kto_and_orpo_from_a_jsonl_file(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from tests.alignment.training.test_kto import unpaired_set

        unpaired = write_jsonl(tmp_path / "kto.jsonl", unpaired_set(8, 4))
        pairs = write_jsonl(tmp_path / "pairs.jsonl", preference_set(16))
        short = [
            "--set",
            "max_steps=2",
            "--set",
            "per_device_train_batch_size=4",
            "--set",
            "logging_steps=1",
            "--quiet",
        ]
        assert main(["kto", "--data", str(unpaired), "--out", str(tmp_path / "kto"), *short]) == 0
        out, _ = capsys.readouterr()
        assert (
            out.startswith("== kto finished in ")
            and "desirable rows: 8" in out
            and "undesirable rows: 16" in out
        )
        assert main(["orpo", "--data", str(pairs), "--out", str(tmp_path / "orpo"), *short]) == 0
        out, _ = capsys.readouterr()
        assert out.startswith("== orpo finished in ") and "loss_last" in out
        for run in ("kto", "orpo"):
            stored = json.loads((tmp_path / run / "result.json").read_text())
            assert stored["step"] == run and stored["policy_path"] == str(tmp_path / run / "policy")
            assert (tmp_path / run / "policy" / "config.json").exists()

    def test_it_exits_2_with_the_config_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config = tmp_path / "bad.json"
        config.write_text(json.dumps({"strategy": "rlhf", "provider": "unsloth"}))
        assert main(["rlhf", "--config", str(config), "--data", "x.jsonl", "--out", str(tmp_path)]) == 2
        assert capsys.readouterr().err.strip() == (
            'error: \'provider\' = "unsloth" is not supported; allowed values: "huggingface"'
        )


@pytest.mark.slow
class NoDjangoTests:
    def test_it_imports_and_trains_without_django_settings(self, tmp_path: Path, model_cache: Path) -> None:
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
        env["CONCORD_MODEL_CACHE"] = str(model_cache)  # built once per session: building pretrains
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip().endswith("ok 2")


SEED_RLHF_CONFIG = {  # the fine-tuning tool's RLHF page example, only "dataset" edited
    "strategy": "rlhf",
    "task": "text-generation",
    "model_name": "meta-llama/Llama-3.1-8B-Instruct",
    "provider": "huggingface",
    "num_train_epochs": 1,
    "per_device_train_batch_size": 1,
    "gradient_accumulation_steps": 8,
    "learning_rate": 1.41e-5,
    "lora_r": 16,
    "lora_alpha": 32,
    "use_4bit": True,
    "bf16": True,
}


def errors_of(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error:")]


class CommandLineErrorTests:
    def test_it_refuses_the_seed_config_with_an_uncached_hub_model_at_once(
        self, tmp_path: Path, offline: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        import time

        data = write_jsonl(tmp_path / "pairs.jsonl", export_shaped_pairs(4))
        config = tmp_path / "rlhf.json"
        config.write_text(json.dumps({**SEED_RLHF_CONFIG, "dataset": str(data)}))
        started = time.perf_counter()
        assert main(["rlhf", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
        assert time.perf_counter() - started < 5
        (error,) = errors_of(capsys.readouterr().err)
        assert error.startswith(
            "error: 'model_name' = \"meta-llama/Llama-3.1-8B-Instruct\" is not a local folder"
        )
        assert 'set "model_name": "DIR"' in error
        assert not (tmp_path / "out").exists()

    def test_it_refuses_a_length_over_the_tiny_models_positions(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        data = write_jsonl(tmp_path / "pairs.jsonl", export_shaped_pairs(4))
        args = ["--data", str(data), "--out", str(tmp_path / "out"), "--set", "max_seq_length=512"]
        assert main(["reward", *args]) == 2
        (error,) = errors_of(capsys.readouterr().err)
        assert error.startswith("error: 'max_seq_length' = 512 is longer than model_name \"concord/tiny\"")
        assert not (tmp_path / "out").exists()

    def test_it_refuses_ppo_without_a_reward_model(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        data = write_jsonl(tmp_path / "pairs.jsonl", export_shaped_pairs(4))
        for step in ("rlhf", "rloo"):
            assert main([step, "--data", str(data), "--out", str(tmp_path / "out")]) == 2
            (error,) = errors_of(capsys.readouterr().err)
            assert error.startswith("error: 'reward_model' is required")
        assert not (tmp_path / "out").exists()


@pytest.mark.slow
class ExportedFileTests:
    def test_it_runs_reward_rlhf_dpo_and_generate_on_an_export_with_defaults(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Multi-turn prompts and responses of hundreds of bytes: longer than the tiny model's 256 positions.
        data = write_jsonl(tmp_path / "trl_standard.jsonl", export_shaped_pairs(32))
        assert main(["reward", "--data", str(data), "--out", str(tmp_path / "rm"), "--quiet"]) == 0
        reward_model = json.loads((tmp_path / "rm" / "result.json").read_text())["model_path"]
        short = ["--set", "max_steps=2", "--quiet"]
        rlhf = ["--set", f"reward_model={json.dumps(reward_model)}", *short]
        assert main(["rlhf", "--data", str(data), "--out", str(tmp_path / "ppo"), *rlhf]) == 0
        assert main(["dpo", "--data", str(data), "--out", str(tmp_path / "dpo"), *short]) == 0
        capsys.readouterr()
        assert main(["generate", "--data", str(data), "--out", str(tmp_path / "gen")]) == 0
        err = capsys.readouterr().err
        assert "generating:" in err and "training:" not in err
        for run in ("rm", "ppo", "dpo", "gen"):
            folders = [p for p in (tmp_path / run).rglob("*") if p.is_dir()]
            assert [p for p in folders if not any(p.iterdir())] == [], run  # no empty trainer/ folders
        assert not (tmp_path / "rm" / "trainer").exists() and not (tmp_path / "dpo" / "trainer").exists()
