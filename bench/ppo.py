"""PPO throughput and reward gain on the reference shape, optionally side by side with TRL 1.12.0.

Reference shape: GPT-2 config with the ByT5 vocabulary (384), 2 layers, width 64, 4 heads, 256 positions;
policy, reward model and value of that size; 256 prompts, batch 8, 2 PPO epochs, 1 minibatch, responses of
32 tokens. Both sides train all weights (TRL 1.12's PPOTrainer has no LoRA-as-reference path worth
comparing) with the same hyperparameters, prompts, initial policy and reward model, and both use TRL's
critic recipe: a separate value model initialised from the reward model.

Our side uses TRL 1.12's optimiser settings (AdamW ε 1e-8, no gradient clipping) so that only the
implementations differ. The reward model is trained here once (cached under bench/out/ppo/) on a known target: answers in
lowercase ASCII beat answers in uppercase. "Reward gain per episode" is measured the same way for both
sides after training: sample 2 responses per prompt from the initial and the final policy with one fixed
seed, score them with that reward model, divide the gain by the training episodes. The share of lowercase
letters in those samples (the known target itself) is reported too.

Usage (from the repository root):

    .venv/bin/python bench/ppo.py                 # ours only
    .venv/bin/python bench/ppo.py --peer          # and TRL 1.12.0 from .venv-trl112 (created if missing)
    .venv/bin/python bench/ppo.py --peer --seeds 5 --threads 2

Each side runs once per seed (0..N-1, interleaved so machine load hits both alike); throughput is the
median over seeds, reward gain the mean (± standard error): one seed's gain is mostly noise at 256
episodes. It prints a table and, as its very last line, one JSON object with the figures. Throughput is
episodes / wall-clock seconds of training: for us the whole `train_ppo` call after imports (loading,
checkpoints every 10 steps and the final save included); for TRL `trainer.train()` alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PEER_VENV = REPO / ".venv-trl112"
# CPU torch is pinned: an unpinned torch pulls several GB of CUDA wheels.
PEER_PACKAGES = [
    "torch==2.13.0",
    "trl==1.12.0",
    "transformers==5.23.0",
    "accelerate==1.15.0",
    "datasets==5.2.0",
]

HYPER: dict[str, Any] = {
    "episodes": 256,
    "batch_size": 8,
    "ppo_epochs": 2,
    "num_mini_batches": 1,
    "response_length": 32,
    "temperature": 1.0,
    "learning_rate": 1e-3,
    "kl_coef": 0.05,
    "cliprange": 0.2,
    "cliprange_value": 0.2,
    "vf_coef": 0.1,
    "gamma": 1.0,
    "lam": 0.95,
    "seed": 0,
}


def make_prompts(n: int) -> list[str]:
    rng = random.Random(1234)
    words = ["tell", "me", "about", "the", "sea", "a", "story", "why", "how", "cats", "rain", "code", "music"]
    return [
        f"Q{i}: " + " ".join(rng.choice(words) for _ in range(rng.randint(2, 6))) + "? A:" for i in range(n)
    ]


def lowercase_share(texts: list[str]) -> float:
    return sum(sum("a" <= c <= "z" for c in t) / max(1, len(t)) for t in texts) / max(1, len(texts))


def prepare_models(out: Path) -> tuple[str, str]:
    """The initial policy and the trained known-target reward model (built once, then reused)."""
    from alignment.training.config import RewardConfig, load_config
    from alignment.training.reward import train_reward
    from alignment.training.tiny import build_tiny

    policy = out / "policy-init"
    if not (policy / "config.json").exists():
        build_tiny(policy, kind="policy", seed=0)
    reward = out / "reward" / "reward_model"
    if not (reward / "config.json").exists():
        base = out / "reward-init"
        if not (base / "config.json").exists():
            build_tiny(base, kind="reward", seed=0)
        rng = random.Random(0)
        rows = []
        for i in range(512):
            n = rng.randint(4, 32)
            rows.append(
                {
                    "prompt": f"Q{i}: ",
                    "chosen": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(n)),
                    "rejected": "".join(
                        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,") for _ in range(n)
                    ),
                }
            )
        config = load_config(
            {
                "strategy": "reward",
                "model_name": str(base),
                "learning_rate": 1e-3,
                "num_train_epochs": 2,
                "per_device_train_batch_size": 16,
                "eval_split": 0.1,
                # Raw scores: the TRL side reads the model's logits without our calibration.
                "normalize": False,
            }
        )
        assert isinstance(config, RewardConfig)
        result = train_reward(config, rows, out / "reward")
        print(
            f"reward model trained: held-out accuracy {result.metrics['eval_accuracy']:.3f}", file=sys.stderr
        )
    return str(policy), str(reward)


def score_policy(policy: str, reward: str, prompts: list[str], threads: int) -> dict[str, float]:
    """Mean reward and lowercase share of 2 samples per prompt, one fixed seed for every policy."""
    import torch

    from alignment.training.config import GenerateConfig, load_config
    from alignment.training.models import load_causal_lm, load_reward_model, load_tokenizer
    from alignment.training.sampling import sample_texts
    from alignment.training.scoring import RewardModelScorer

    config = load_config({"strategy": "generate", "model_name": policy})
    assert isinstance(config, GenerateConfig)
    model = load_causal_lm(config).eval()
    tokenizer = load_tokenizer(policy, padding_side="left")
    reward_model, reward_tokenizer, _ = load_reward_model(reward)
    scorer = RewardModelScorer(reward_model, reward_tokenizer, {})
    generator = torch.Generator().manual_seed(99)
    texts, _, _ = sample_texts(
        model,
        tokenizer,
        prompts,
        n=2,
        response_length=HYPER["response_length"],
        temperature=HYPER["temperature"],
        max_prompt_tokens=200,
        batch_size=64,
        generator=generator,
    )
    flat_prompts = [p for p in prompts for _ in range(2)]
    flat = [t for pair in texts for t in pair]
    scores = scorer.raw(flat_prompts, flat)
    return {"reward": float(scores.mean()), "lowercase_share": lowercase_share(flat)}


def run_ours(policy: str, reward: str, prompts: list[str], out: Path, seed: int) -> dict[str, Any]:
    import shutil

    from alignment.training.config import PPOConfig, load_config
    from alignment.training.ppo import train_ppo

    if out.exists():
        shutil.rmtree(out)
    config = load_config(
        {
            "strategy": "ppo",
            "model_name": policy,
            "reward_model": reward,
            "lora_r": 0,
            "per_device_train_batch_size": HYPER["batch_size"],
            "ppo_epochs": HYPER["ppo_epochs"],
            "num_mini_batches": HYPER["num_mini_batches"],
            "response_length": HYPER["response_length"],
            "total_episodes": HYPER["episodes"],
            "temperature": HYPER["temperature"],
            "learning_rate": HYPER["learning_rate"],
            "kl_coef": HYPER["kl_coef"],
            "cliprange": HYPER["cliprange"],
            "cliprange_value": HYPER["cliprange_value"],
            "vf_coef": HYPER["vf_coef"],
            "gamma": HYPER["gamma"],
            "lam": HYPER["lam"],
            "seed": seed,
            "max_seq_length": 256,
            "save_steps": 10,
            # The critic TRL's side gets (ppo_peer.py: a value model initialised from the reward model), so
            # both start from the same value function. Our default, a zero-initialised head on the policy
            # trunk, hardly moves in 64 Adam steps (each moves a weight by about lr at most) while the raw
            # scores are ±2.5: its values stay near 0 and the advantages go without a baseline.
            "value_model": "reward_model",
            # TRL 1.12's PPOTrainer uses transformers' AdamW defaults and no gradient clipping; match them
            # so the comparison is of implementations, not of optimiser settings.
            "adam_eps": 1e-8,
            "max_grad_norm": 1e6,
            # TRL's PPOTrainer subtracts no per-prompt baseline from the score; our default does.
            "reward_baseline": None,
        }
    )
    assert isinstance(config, PPOConfig)
    started = time.perf_counter()
    result = train_ppo(config, [{"prompt": p} for p in prompts], out)
    seconds = time.perf_counter() - started
    loop = sum(h["step_time_s"] for h in result.history)
    return {
        "episodes": result.episodes,
        "train_s": seconds,
        "episodes_per_s": result.episodes / seconds,
        "loop_episodes_per_s": result.episodes / loop,
        "policy_path": result.policy_path,
        "kl_last": result.history[-1]["kl"],
    }


def ensure_peer_venv() -> Path:
    python = PEER_VENV / "bin" / "python"
    probe = [str(python), "-c", "import trl, torch; assert trl.__version__ == '1.12.0', trl.__version__"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"creating {PEER_VENV} with {' '.join(PEER_PACKAGES)} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    subprocess.run(probe, check=True)
    return python


def run_peer(
    policy: str, reward: str, prompts_file: Path, out: Path, threads: int, seed: int
) -> dict[str, Any]:
    import shutil

    python = ensure_peer_venv()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    spec = out / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "policy": policy,
                "reward": reward,
                "prompts": str(prompts_file),
                "out": str(out),
                "threads": threads,
                "hyper": {**HYPER, "seed": seed},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(python), str(REPO / "bench" / "ppo_peer.py"), str(spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=out,
    )
    if done.returncode != 0:
        raise RuntimeError(f"TRL 1.12.0 peer failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return mean, se


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--peer", action="store_true", help="also run TRL 1.12.0's PPOTrainer from .venv-trl112"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both sides (default 1)")
    parser.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="runs per side with seeds 0..N-1 (interleaved); median throughput, mean reward gain",
    )
    parser.add_argument("--out", default=str(REPO / "bench" / "out" / "ppo"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(args.threads)
    import peft  # noqa: F401  (imports are process start-up, not training: load them before timing)
    import trl  # noqa: F401

    from alignment.training.models import quiet_transformers

    quiet_transformers()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prompts = make_prompts(HYPER["episodes"])
    prompts_file = out / "prompts.json"
    prompts_file.write_text(json.dumps(prompts))
    policy, reward = prepare_models(out)
    initial = score_policy(policy, reward, prompts, args.threads)

    sides: dict[str, list[dict[str, Any]]] = {"ours": [], "peer": []}
    for seed in range(args.seeds):
        # Interleaved, so load from other processes on the machine hits both sides alike.
        run = run_ours(policy, reward, prompts, out / f"ours-s{seed}", seed)
        run.update(score_policy(run["policy_path"], reward, prompts, args.threads))
        sides["ours"].append(run)
        print(
            f"seed {seed} ours: {run['episodes_per_s']:.2f} episodes/s, reward {run['reward']:.4f}",
            file=sys.stderr,
        )
        if args.peer:
            peer = run_peer(policy, reward, prompts_file, out / f"trl112-s{seed}", args.threads, seed)
            peer.update(score_policy(peer["policy_path"], reward, prompts, args.threads))
            sides["peer"].append(peer)
            print(
                f"seed {seed} trl 1.12.0: {peer['episodes_per_s']:.2f} episodes/s, reward {peer['reward']:.4f}",
                file=sys.stderr,
            )

    def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
        gains = [(r["reward"] - initial["reward"]) / HYPER["episodes"] for r in runs]
        gain, gain_se = mean_se(gains)
        return {
            "episodes_per_s": round(statistics.median(r["episodes_per_s"] for r in runs), 2),
            "episodes_per_s_runs": [round(r["episodes_per_s"], 2) for r in runs],
            "final_reward": round(statistics.fmean(r["reward"] for r in runs), 4),
            "reward_gain_per_episode": gain,
            "reward_gain_per_episode_se": gain_se,
            "reward_gain_per_episode_runs": [round(g, 6) for g in gains],
            "final_lowercase_share": round(statistics.fmean(r["lowercase_share"] for r in runs), 4),
        }

    ours = summarise(sides["ours"])
    figures: dict[str, Any] = {
        "shape": "gpt2 vocab384 L2 d64 h4 pos256; 256 prompts, batch 8, 2 epochs, 1 minibatch, resp 32",
        "threads": args.threads,
        "seeds": args.seeds,
        "episodes": HYPER["episodes"],
        "initial_reward": round(initial["reward"], 4),
        "initial_lowercase_share": round(initial["lowercase_share"], 4),
        **ours,
        "loop_episodes_per_s": round(statistics.median(r["loop_episodes_per_s"] for r in sides["ours"]), 2),
    }
    peer_summary: dict[str, Any] = {}
    if args.peer:
        peer_summary = summarise(sides["peer"])
        figures.update({f"peer_{k}": v for k, v in peer_summary.items()})
        figures["speedup"] = round(ours["episodes_per_s"] / peer_summary["episodes_per_s"], 2)
        figures["peer_trl_version"] = sides["peer"][0]["trl_version"]

    def cell(summary: dict[str, Any], key: str) -> str:
        if not summary:
            return ""
        if key == "reward_gain_per_episode":
            return f"{summary[key]:.5f} ± {summary[key + '_se']:.5f}"
        return f"{summary[key]:.4g}"

    print(
        f"PPO benchmark: {figures['shape']}; {args.threads} thread(s), {args.seeds} seed(s); "
        f"initial reward {initial['reward']:.4f}, lowercase share {initial['lowercase_share']:.3f}"
    )
    print(f"  {'':<26} {'concord ppo':>20} {'trl 1.12.0':>20}")
    for label, key in (
        ("episodes/s (median)", "episodes_per_s"),
        ("final reward (mean)", "final_reward"),
        ("reward gain/episode (± se)", "reward_gain_per_episode"),
        ("lowercase share (mean)", "final_lowercase_share"),
    ):
        print(f"  {label:<26} {cell(ours, key):>20} {cell(peer_summary, key):>20}")
    if args.peer:
        print(f"  speedup {figures['speedup']:.2f}x (target >= 1.5x, i.e. >= 14.1 episodes/s vs 9.4)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
