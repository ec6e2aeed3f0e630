from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from alignment.training.config import PPOConfig, RewardConfig, config_from_dict, load_config
from tests.alignment.training.export_shaped import export_shaped_pairs


def lowercase_share(prompts: list[str], responses: list[str]) -> list[float]:
    """A known reward: the share of response characters that are lowercase ASCII letters."""
    return [sum("a" <= c <= "z" for c in r) / max(1, len(r)) for r in responses]


PROMPTS = [{"prompt": f"Question {i}: say something."} for i in range(64)]


def ppo_config(**overrides: Any) -> PPOConfig:
    raw: dict[str, Any] = {
        "strategy": "ppo",
        "learning_rate": 3e-3,
        "per_device_train_batch_size": 16,
        "response_length": 16,
        "ppo_epochs": 2,
        "max_steps": 8,
        "lora_r": 0,
        "temperature": 1.0,
        "kl_coef": 0.01,
        "save_steps": 0,
    }
    raw.update(overrides)
    config = load_config(raw)
    assert isinstance(config, PPOConfig)
    return config


def trainable_params(policy_dir: str) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(policy_dir)
    return {name: p.detach().clone() for name, p in model.named_parameters()}


class PPOMathTests:
    def test_it_computes_gae_like_the_recursion(self) -> None:
        import torch

        from alignment.training.ppo_math import gae

        rewards = torch.tensor([[0.0, 0.0, 1.0, 5.0]])
        values = torch.tensor([[0.5, 0.2, 0.1, 9.0]])
        mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # last token is past the response's end
        gamma, lam = 0.9, 0.8
        adv, ret = gae(rewards, values, mask, gamma=gamma, lam=lam)
        d2 = 1.0 - 0.1
        d1 = 0.0 + gamma * 0.1 - 0.2
        d0 = 0.0 + gamma * 0.2 - 0.5
        a2 = d2
        a1 = d1 + gamma * lam * a2
        a0 = d0 + gamma * lam * a1
        assert torch.allclose(adv, torch.tensor([[a0, a1, a2, 0.0]]))
        assert torch.allclose(ret, torch.tensor([[a0 + 0.5, a1 + 0.2, a2 + 0.1, 0.0]]))

    def test_it_whitens_advantages_over_masked_tokens_only(self) -> None:
        import torch

        from alignment.training.ppo_math import masked_mean, masked_whiten

        values = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
        mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
        white = masked_whiten(values, mask)
        assert abs(float(masked_mean(white, mask))) < 1e-6
        assert abs(float(masked_mean(white**2, mask)) - 1.0) < 1e-4
        assert float(white[0, 3]) == 0.0

    def test_it_masks_tokens_after_the_first_eos(self) -> None:
        import torch

        from alignment.training.sampling import response_mask

        mask, has_eos = response_mask(torch.tensor([[5, 1, 7, 1], [5, 6, 7, 8]]), eos_token_id=1)
        assert mask.tolist() == [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
        assert has_eos.tolist() == [True, False]

    def test_it_clips_the_policy_loss_outside_the_trust_region(self) -> None:
        import torch

        from alignment.training.ppo_math import ppo_losses

        def policy_grad(log_ratio: float, advantage: float) -> tuple[float, float]:
            new = torch.tensor([[log_ratio]], requires_grad=True)
            out = ppo_losses(
                new_logprobs=new,
                old_logprobs=torch.zeros(1, 1),
                advantages=torch.tensor([[advantage]]),
                values=torch.zeros(1, 1),
                old_values=torch.zeros(1, 1),
                returns=torch.zeros(1, 1),
                mask=torch.ones(1, 1),
                cliprange=0.2,
                cliprange_value=0.2,
            )
            out["policy_loss"].backward()
            assert new.grad is not None
            return float(out["policy_loss"]), float(new.grad)

        loss, grad = policy_grad(0.0, 1.0)  # ratio 1: plain policy gradient
        assert loss == pytest.approx(-1.0) and grad == pytest.approx(-1.0)
        loss, grad = policy_grad(0.5, 1.0)  # ratio e^0.5 > 1.2 with A > 0: clipped, no push further
        assert loss == pytest.approx(-1.2) and grad == 0.0
        loss, grad = policy_grad(0.5, -1.0)  # same ratio with A < 0: the unclipped, pessimistic term
        assert loss == pytest.approx(math.exp(0.5)) and grad == pytest.approx(math.exp(0.5))

    def test_it_clips_the_value_loss_around_the_rollout_values(self) -> None:
        import torch

        from alignment.training.ppo_math import ppo_losses

        values = torch.tensor([[0.5]], requires_grad=True)
        out = ppo_losses(
            new_logprobs=torch.zeros(1, 1),
            old_logprobs=torch.zeros(1, 1),
            advantages=torch.zeros(1, 1),
            values=values,
            old_values=torch.zeros(1, 1),
            returns=torch.tensor([[1.0]]),
            mask=torch.ones(1, 1),
            cliprange=0.2,
            cliprange_value=0.2,
        )
        # Unclipped error (0.5-1)^2 = 0.25, clipped (0.2-1)^2 = 0.64: the larger one counts, and it has no
        # gradient with respect to the prediction, so the critic stops 0.2 from its rollout value.
        assert float(out["value_loss"]) == pytest.approx(0.5 * 0.64)
        out["value_loss"].backward()
        assert values.grad is not None and float(values.grad) == 0.0
        assert float(out["value_clipfrac"]) == 1.0

    def test_it_moves_kl_coef_toward_the_target(self) -> None:
        from alignment.training.ppo_math import AdaptiveKLController

        controller = AdaptiveKLController(0.1, target=1.0, horizon=100)
        controller.update(current_kl=5.0, n_episodes=10)
        assert controller.value == pytest.approx(0.1 * (1 + 0.2 * 10 / 100))
        controller.update(current_kl=0.0, n_episodes=10)
        assert controller.value < 0.1 * (1 + 0.2 * 10 / 100)


@pytest.mark.slow
class PPOTests:
    def test_it_raises_reward_while_kl_stays_under_its_bound(
        self, tmp_path: Path, random_policy: str
    ) -> None:
        config = ppo_config(max_steps=30, target_kl=2.0, kl_horizon=400, model_name=random_policy)
        events: list[dict[str, Any]] = []
        result = train_ppo_quiet(config, tmp_path, events)
        first = sum(h["reward_mean"] for h in result.history[:5]) / 5
        last = sum(h["reward_mean"] for h in result.history[-5:]) / 5
        assert last > first + 0.15, (first, last)
        assert result.stopped_reason == "completed"
        assert max(h["kl"] for h in result.history) < 4 * 2.0
        assert result.history[-1]["kl_coef"] != 0.01  # the adaptive controller moved β
        for key in ("reward_mean", "kl", "entropy", "clipfrac", "approx_kl", "value_loss", "kl_coef"):
            assert key in result.history[-1]
        assert [e["event"] for e in events][:2] == ["start", "step"]
        assert events[-1]["event"] == "end"
        assert sum(e["event"] == "step" for e in events) == 30
        assert "weights" in events[0]["memory"]["parts"]

    def test_it_drifts_further_with_a_small_kl_coef(self, tmp_path: Path, random_policy: str) -> None:
        loose = train_ppo_quiet(
            ppo_config(max_steps=16, kl_coef=0.001, model_name=random_policy), tmp_path / "loose"
        )
        tight = train_ppo_quiet(
            ppo_config(max_steps=16, kl_coef=3.0, model_name=random_policy), tmp_path / "tight"
        )
        loose_kl = sum(h["kl"] for h in loose.history[-6:]) / 6
        tight_kl = sum(h["kl"] for h in tight.history[-6:]) / 6
        assert loose_kl > 2 * max(tight_kl, 0.05), (loose_kl, tight_kl)

    def test_it_samples_with_the_kv_cache_as_a_full_forward_would(self, tiny_policy: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        from alignment.training.sampling import forward_response, left_pad, sample_responses

        model = AutoModelForCausalLM.from_pretrained(tiny_policy).eval()
        query, mask = left_pad([[10, 11, 12, 13, 14], [20, 21]], pad_token_id=0)  # row 2 is left-padded
        with torch.no_grad():
            # At a near-zero temperature sampling is greedy, so every sampled token must be the argmax
            # of a plain full forward over the prefix: checks the cache and the padded positions.
            responses = sample_responses(
                model,
                query,
                mask,
                response_length=6,
                temperature=1e-4,
                eos_token_id=1,
                pad_token_id=0,
                generator=torch.Generator().manual_seed(0),
            )
            full = torch.cat([query, responses], 1)
            attention = torch.cat([mask, torch.ones_like(responses)], 1)
            logits = model(
                input_ids=full, attention_mask=attention, position_ids=(attention.cumsum(-1) - 1).clamp(min=0)
            ).logits
            greedy = logits[:, query.shape[1] - 1 : -1].argmax(-1)
            assert torch.equal(greedy, responses)
            # A padded row scores like the same row without padding.
            padded, _, _ = forward_response(model, None, full[1:], attention[1:], query.shape[1], 1.0)
            alone = torch.cat([torch.tensor([[20, 21]]), responses[1:]], 1)
            unpadded, _, _ = forward_response(model, None, alone, torch.ones_like(alone), 2, 1.0)
            assert torch.allclose(padded, unpadded, atol=1e-5)

    def test_it_scores_the_sampled_ids_as_the_reward_model_scores_the_text(
        self, tiny_policy: str, tiny_reward: str, char_reward: str
    ) -> None:
        import torch

        from alignment.training.models import load_tokenizer
        from alignment.training.sampling import left_pad, response_mask
        from alignment.training.scoring import RewardModelScorer, load_reward, reads_policy_ids, score_ids

        tokenizer = load_tokenizer(tiny_policy, padding_side="left")
        scorer = load_reward(tiny_reward).scorers[0]
        assert isinstance(scorer, RewardModelScorer) and reads_policy_ids(scorer, tokenizer)
        assert not reads_policy_ids(load_reward(char_reward).scorers[0], tokenizer)

        def ids(text: str) -> list[int]:
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])

        width, eos = 16, int(tokenizer.eos_token_id)
        prompts = ["Q1: why? A:", "Q22: tell me a story? A:"]
        ended = [*ids("the sea"), eos]
        # Row 1 ended, and what was sampled after its EOS must not count; row 2 was cut off at `width`.
        responses = torch.tensor(
            [ended + [77] * (width - len(ended)), ids("RAIN and CODE and MUSIC")[:width]]
        )
        query, query_mask = left_pad([ids(p) for p in prompts], int(tokenizer.pad_token_id))
        mask, has_eos = response_mask(responses, eos)
        attention = torch.cat([query_mask, mask.long()], 1)
        with torch.no_grad():
            by_ids = score_ids(scorer.model, torch.cat([query, responses], 1), attention, has_eos, eos, 512)
        # The text path scores prompt + response + EOS; a cut-off response gets its EOS appended in both.
        by_text = scorer.raw(prompts, ["the sea", "RAIN and CODE and MUSIC"[:width]])
        assert torch.allclose(by_ids, by_text, atol=1e-5), (by_ids, by_text)

    def test_it_runs_every_ppo_epoch_over_every_minibatch(self, tmp_path: Path) -> None:
        config = ppo_config(max_steps=2, ppo_epochs=3, num_mini_batches=4, learning_rate=1e-3)
        result = train_ppo_quiet(config, tmp_path)
        # One optimizer (and scheduler) step per minibatch per epoch: after step 1, 12 of 24 linear-decay
        # steps are done.
        assert result.history[0]["lr"] == pytest.approx(1e-3 * (1 - 12 / 24))
        assert result.history[1]["lr"] == pytest.approx(0.0)

    def test_it_resumes_a_killed_run_to_the_same_end(self, tmp_path: Path) -> None:
        import torch

        config = ppo_config(max_steps=6, save_steps=2, per_device_train_batch_size=8, response_length=8)
        whole = train_ppo_quiet(config, tmp_path / "whole")

        class Killed(Exception):
            pass

        def kill_at_step_3(event: dict[str, Any]) -> None:
            if event["event"] == "step" and event["step"] == 3:
                raise Killed

        from alignment.training.ppo import train_ppo

        with pytest.raises(Killed):
            train_ppo(
                config, PROMPTS, tmp_path / "killed", progress=kill_at_step_3, reward_fn=lowercase_share
            )
        resumed = train_ppo_quiet(config, tmp_path / "killed")
        assert resumed.resumed_from_step == 2
        assert resumed.steps == 6
        assert [h["reward_mean"] for h in resumed.history] == [h["reward_mean"] for h in whole.history]
        a, b = trainable_params(whole.policy_path), trainable_params(resumed.policy_path)
        assert all(torch.equal(a[name], b[name]) for name in a)

    def test_it_penalises_responses_without_eos(self, tmp_path: Path) -> None:
        result = train_ppo_quiet(ppo_config(max_steps=2, missing_eos_penalty=1.0), tmp_path)
        for h in result.history:
            expected = h["reward_mean"] - 1.0 * (1.0 - h["eos_fraction"])
            assert h["score_mean"] == pytest.approx(expected, abs=1e-5)
        assert any(h["eos_fraction"] < 1.0 for h in result.history)

    def test_it_stops_when_kl_runs_away(self, tmp_path: Path) -> None:
        config = ppo_config(max_steps=30, kl_coef=0.0, kl_stop=0.5, learning_rate=1e-2)
        result = train_ppo_quiet(config, tmp_path)
        assert result.stopped_reason == "kl_runaway"
        assert result.steps < 30
        assert result.history[-1]["kl"] > 0.5

    def test_it_skips_remaining_epochs_when_approx_kl_passes_its_bound(self, tmp_path: Path) -> None:
        result = train_ppo_quiet(
            ppo_config(max_steps=2, ppo_epochs=4, max_approx_kl=1e-6, learning_rate=1e-2), tmp_path
        )
        assert all(h["ppo_early_stop"] == 1.0 for h in result.history)

    def test_it_uses_the_adapter_free_base_as_reference(self, tmp_path: Path, tiny_policy: str) -> None:
        import torch

        from alignment.training.models import load_policy
        from alignment.training.sampling import forward_response

        config = ppo_config(lora_r=4, lora_alpha=8, lora_dropout=0.0)
        model, _ = load_policy(config)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.fill_(0.5)  # make the adapters matter
        ids = torch.tensor([[10, 11, 12, 13, 14, 15]])
        mask = torch.ones_like(ids)
        with torch.no_grad():
            with model.disable_adapter():
                ref, _, _ = forward_response(model, None, ids, mask, 3, 1.0)
            adapted, _, _ = forward_response(model, None, ids, mask, 3, 1.0)
            from transformers import AutoModelForCausalLM

            base = AutoModelForCausalLM.from_pretrained(tiny_policy)
            expected, _, _ = forward_response(base, None, ids, mask, 3, 1.0)
        assert torch.allclose(ref, expected, atol=1e-6)
        assert not torch.allclose(adapted, expected, atol=1e-3)

    def test_it_trains_lora_adapters_only(self, tmp_path: Path, tiny_policy: str) -> None:
        import torch

        config = ppo_config(max_steps=3, lora_r=4, lora_alpha=16, lora_dropout=0.0, learning_rate=1e-2)
        result = train_ppo_quiet(config, tmp_path)
        before = trainable_params(tiny_policy)
        after = trainable_params(result.policy_path)  # adapters merged into the saved policy
        changed = [name for name in before if not torch.equal(before[name], after[name])]
        assert any("attn" in name for name in changed)
        assert "transformer.wte.weight" not in changed
        assert Path(result.value_head_path).exists()

    def test_it_scores_with_a_reward_model_that_has_another_tokenizer(
        self, tmp_path: Path, char_reward: str
    ) -> None:
        from alignment.training.scoring import load_reward

        reward = load_reward(char_reward)
        scores = reward(["q", "q"], ["hello", "zzzz"])
        assert scores.shape == (2,) and float(scores[0]) != float(scores[1])
        result = train_ppo_quiet(ppo_config(max_steps=2, reward_model=char_reward), tmp_path, use_fn=False)
        assert result.steps == 2
        assert result.history[0]["reward_std"] > 0


@pytest.fixture
def char_reward(tmp_path: Path) -> str:
    """A reward model with its own character-level tokenizer (ids unrelated to ByT5's)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    for ch in "abcdefghijklmnopqrstuvwxyz ":
        vocab[ch] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    torch.manual_seed(1)
    config = GPT2Config(
        vocab_size=len(vocab), n_embd=32, n_layer=1, n_head=2, n_positions=128, pad_token_id=0, eos_token_id=1
    )
    config.num_labels = 1
    model = GPT2ForSequenceClassification(config)
    folder = tmp_path / "char-reward"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def train_ppo_quiet(
    config: PPOConfig, out: Path, events: list[dict[str, Any]] | None = None, *, use_fn: bool = True
) -> Any:
    from alignment.training.ppo import train_ppo

    return train_ppo(
        config,
        PROMPTS,
        out,
        progress=events.append if events is not None else None,
        reward_fn=lowercase_share if use_fn else None,
    )


@pytest.mark.slow
class PPOCriticTests:
    def test_it_trains_a_separate_critic_initialised_from_the_reward_model(
        self, tmp_path: Path, tiny_reward: str
    ) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification

        result = train_ppo_quiet(
            ppo_config(max_steps=2, value_model="reward_model", reward_model=tiny_reward),
            tmp_path,
            use_fn=False,
        )
        critic = AutoModelForSequenceClassification.from_pretrained(result.value_head_path)
        start = AutoModelForSequenceClassification.from_pretrained(tiny_reward)
        assert not torch.equal(critic.score.weight, start.score.weight)
        assert result.history[-1]["value_loss"] > 0

    def test_it_refuses_a_critic_with_another_tokenizer(self, tmp_path: Path, char_reward: str) -> None:
        from alignment.training.config import ConfigError

        with pytest.raises(
            ConfigError, match=r"^'value_model' '.*char-reward' uses another tokenizer than the policy"
        ):
            train_ppo_quiet(ppo_config(max_steps=1, value_model=char_reward, max_seq_length=128), tmp_path)
        # With the policy's 256 positions the critic's 128 are refused first, before anything loads.
        with pytest.raises(
            ConfigError, match=r"^'max_seq_length' = 256 is longer than value_model"
        ) as caught:
            train_ppo_quiet(ppo_config(max_steps=1, value_model=char_reward), tmp_path)
        assert caught.value.key == "max_seq_length"


def mean_reward(policy: str, reward_model: str, prompts: list[str]) -> tuple[float, float]:
    """Mean reward and share of lowercase letters of two samples per prompt, sampled with a fixed seed."""
    import torch

    from alignment.training.models import load_causal_lm, load_tokenizer
    from alignment.training.sampling import sample_texts
    from alignment.training.scoring import load_reward

    config = load_config({"strategy": "generate", "model_name": policy})
    model = load_causal_lm(config).eval()
    texts, _, _ = sample_texts(
        model,
        load_tokenizer(policy, padding_side="left"),
        prompts,
        n=2,
        response_length=53,
        temperature=0.7,
        max_prompt_tokens=256 - 53,
        batch_size=len(prompts),
        generator=torch.Generator().manual_seed(7),
    )
    flat = [text for pair in texts for text in pair]
    scores = load_reward(reward_model, max_length=256)([p for p in prompts for _ in range(2)], flat)
    lowercase = [sum(c.islower() for c in t) / max(1, sum(c.isalpha() for c in t)) for t in flat]
    return float(scores.mean()), sum(lowercase) / len(lowercase)


@pytest.mark.slow
class PPOOnExportTests:
    def test_it_raises_the_reward_from_the_built_in_model_with_defaults(
        self, tiny_policy: str, tmp_path: Path
    ) -> None:
        """The user's path: `rlhf --data export.jsonl` with model_name concord/tiny (no SFT step) and defaults."""
        from alignment.training.ppo import train_ppo
        from alignment.training.reward import train_reward
        from alignment.training.rows import prompt_text

        rows = export_shaped_pairs(300)
        reward = train_reward(config_from_dict(RewardConfig, {}), rows, tmp_path / "rm")
        assert reward.metrics["eval_accuracy"] >= 0.9
        held_out = [prompt_text(r["prompt"]) for r in export_shaped_pairs(48, seed=99)]
        before, lowercase_before = mean_reward(tiny_policy, reward.model_path, held_out)

        # Defaults but the run's length (37 steps for 300 prompts): the reward is up well before that.
        config = config_from_dict(
            PPOConfig, {"strategy": "rlhf", "reward_model": reward.model_path, "max_steps": 24}
        )
        assert config.model_name == "concord/tiny"
        result = train_ppo(config, rows, tmp_path / "ppo")
        after, lowercase_after = mean_reward(result.policy_path, reward.model_path, held_out)
        assert after > before + 0.1, (before, after)
        assert lowercase_after > lowercase_before + 0.1, (lowercase_before, lowercase_after)


@pytest.mark.slow
class PPOReferenceModelTests:
    def test_it_measures_kl_to_the_reference_model_not_the_start_policy(
        self, tmp_path: Path, other_policy: str
    ) -> None:
        # Before any update the policy is its start: KL to itself is 0, to another model it is not.
        own = train_ppo_quiet(ppo_config(max_steps=1, lora_r=4, lora_alpha=8), tmp_path / "own")
        fixed = train_ppo_quiet(
            ppo_config(max_steps=1, lora_r=4, lora_alpha=8, reference_model=other_policy), tmp_path / "fixed"
        )
        assert abs(own.history[0]["kl"]) < 1e-4, own.history[0]
        assert fixed.history[0]["kl"] > 1.0, fixed.history[0]

    def test_it_refuses_a_reference_model_with_another_tokenizer(
        self, tmp_path: Path, char_reward: str
    ) -> None:
        from alignment.training.config import ConfigError

        with pytest.raises(
            ConfigError, match=r"^'reference_model' '.*char-reward' uses another tokenizer"
        ) as caught:
            train_ppo_quiet(
                ppo_config(max_steps=1, reference_model=char_reward, max_seq_length=128), tmp_path
            )
        assert caught.value.key == "reference_model"

    def test_preflight_refuses_a_missing_reference_model(self, tmp_path: Path) -> None:
        from alignment.training.config import ModelNotFoundError

        with pytest.raises(ModelNotFoundError, match="'reference_model'") as caught:
            train_ppo_quiet(ppo_config(reference_model=str(tmp_path / "nowhere")), tmp_path / "out")
        assert caught.value.key == "reference_model"
