"""The TRL 1.12.0 side of bench/ppo.py: `trl.experimental.ppo.PPOTrainer` on the same models and prompts.

Runs inside its own virtualenv (.venv-trl112: torch 2.13.0 CPU, trl 1.12.0, the last TRL with PPO);
bench/ppo.py creates that environment and calls this script as
`.venv-trl112/bin/python bench/ppo_peer.py SPEC.json`. It imports nothing from Concord. The spec names
the policy, reward model, prompts, hyperparameters and an output folder; the script trains, saves the
policy to `<out>/policy` and prints one JSON line with its timing as its last output.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    import torch

    torch.set_num_threads(int(spec["threads"]))
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import_s = time.perf_counter() - started

    h = spec["hyper"]
    out = Path(spec["out"])
    tokenizer = AutoTokenizer.from_pretrained(spec["policy"], padding_side="left")
    prompts = json.loads(Path(spec["prompts"]).read_text())
    # Same prompt tokens as our side: no EOS appended to the prompt (ByT5 adds one by default).
    dataset = Dataset.from_list(
        [{"input_ids": tokenizer(p, add_special_tokens=False)["input_ids"]} for p in prompts]
    )
    policy = AutoModelForCausalLM.from_pretrained(spec["policy"])
    ref_policy = AutoModelForCausalLM.from_pretrained(spec["policy"])
    # TRL's recipe: the value model starts from the reward model.
    value_model = AutoModelForSequenceClassification.from_pretrained(spec["reward"], num_labels=1)
    reward_model = AutoModelForSequenceClassification.from_pretrained(spec["reward"], num_labels=1)
    args = PPOConfig(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=h["batch_size"],
        gradient_accumulation_steps=1,
        local_rollout_forward_batch_size=h["batch_size"],
        num_ppo_epochs=h["ppo_epochs"],
        num_mini_batches=h["num_mini_batches"],
        total_episodes=h["episodes"],
        response_length=h["response_length"],
        temperature=h["temperature"],
        learning_rate=h["learning_rate"],
        kl_coef=h["kl_coef"],
        cliprange=h["cliprange"],
        cliprange_value=h["cliprange_value"],
        vf_coef=h["vf_coef"],
        gamma=h["gamma"],
        lam=h["lam"],
        stop_token="eos",
        num_sample_generations=0,
        save_strategy="no",
        report_to="none",
        logging_steps=1000,
        seed=h["seed"],
        use_cpu=True,
        disable_tqdm=True,
        bf16=False,
    )
    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=ref_policy,
        reward_model=reward_model,
        train_dataset=dataset,
        eval_dataset=dataset.select(range(8)),
        value_model=value_model,
    )
    setup_s = time.perf_counter() - started - import_s
    train_started = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - train_started
    trainer.save_model(str(out / "policy"))
    tokenizer.save_pretrained(str(out / "policy"))
    import trl

    print(
        json.dumps(
            {
                "trl_version": trl.__version__,
                "torch_version": torch.__version__,
                "episodes": h["episodes"],
                "train_s": train_s,
                "episodes_per_s": h["episodes"] / train_s,
                "setup_s": setup_s,
                "import_s": import_s,
                "policy_path": str(out / "policy"),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
