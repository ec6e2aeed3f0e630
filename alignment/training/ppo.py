"""PPO for language models against reward models, with a KL leash to the reference policy.

TRL removed its PPO trainer after 1.12, so this is our own, on torch + transformers + peft. Each
detail follows "The N Implementation Details of RLHF with PPO" (Huang, Liu, von Werra; ICLR blog
track 2024), cited below by its section and title, e.g. (Huang §policy, "Scale the logits by sampling
temperature").

One PPO step:
1. rollout: sample `response_length` tokens for a batch of prompts from the policy (KV-cached, temperature
   scaled); everything after the first EOS is masked;
2. score: a reward model with the policy's tokenizer scores the sampled ids (prompt + response + EOS),
   the very tokens the policy and the critic see, as TRL's PPOTrainer does; any other reward (another
   tokenizer, a function) scores the decoded text; subtract `missing_eos_penalty` where no EOS was produced;
3. per-token rewards: −β·(log π − log π_ref) on every token, plus the score on the last token; the
   reference is the same network with its LoRA adapters disabled;
4. GAE(γ, λ) on a zero-initialised value head that shares the policy trunk, as in the blog's reference
   code (or, with `value_model`, a separate critic initialised from the reward model, as TRL 1.12 did),
   then advantage whitening;
5. `ppo_epochs` passes over `num_mini_batches` minibatches of clipped policy loss + clipped value loss,
   skipping the rest when approx-KL passes 1.5 × `max_approx_kl`;
6. the adaptive KL controller moves β toward `target_kl`; the run stops if KL passes `kl_stop`.

A checkpoint (trainable weights, optimizer, scheduler, β, RNG states, metrics) is written every
`save_steps` steps; calling `train_ppo` again on the same folder continues from it.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignment.training.config import PPOConfig
from alignment.training.results import Progress, StepResult, emit
from alignment.training.rows import Rows, as_rows, prompts_of
from alignment.training.scoring import RewardFn

CHECKPOINT = "checkpoint/state.pt"


@dataclass
class PPOResult(StepResult):
    """Outcome of a PPO run; `history` has one metrics dict per PPO step."""

    policy_path: str = ""
    value_head_path: str = ""
    checkpoint_path: str = ""
    steps: int = 0
    episodes: int = 0
    resumed_from_step: int = 0
    stopped_reason: str = "completed"
    kl_coef: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


class AdaptiveKLController:
    """β ← β·(1 + clip(KL/target − 1, ±0.2)·n/horizon) (Ziegler et al. 2019; Huang §policy, "Adaptive KL")."""

    def __init__(self, kl_coef: float, target: float | None, horizon: int) -> None:
        self.value = kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, current_kl: float, n_episodes: int) -> None:
        """Move β toward the value that holds KL at the target (no-op without a target)."""
        if self.target is None:
            return
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_episodes / self.horizon


# --- tensor helpers -------------------------------------------------------------------------------


def masked_mean(values: Any, mask: Any) -> Any:
    """Mean of `values` where `mask` is 1."""
    return (values * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(values: Any, mask: Any, *, shift_mean: bool = True) -> Any:
    """Values scaled to unit variance (and zero mean when shift_mean) over the masked entries."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    whitened = (values - mean) * (var + 1e-8).rsqrt()
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def gae(rewards: Any, values: Any, mask: Any, *, gamma: float, lam: float) -> tuple[Any, Any]:
    """Generalised advantage estimates and returns over response tokens (zero past each response's end)."""
    import torch

    rewards = rewards * mask
    values = values * mask
    length = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        advantages[:, t] = last
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def response_mask(responses: Any, eos_token_id: int) -> tuple[Any, Any]:
    """(mask of tokens up to and including the first EOS, whether each response has an EOS)."""
    import torch

    is_eos = responses == eos_token_id
    has_eos = is_eos.any(dim=1)
    # Tokens strictly after the first EOS are padding (Huang §general, "Response generation samples a
    # fixed-length response without padding" + TRL's truncate_response).
    after = (torch.cumsum(is_eos.int(), dim=1) - is_eos.int()) > 0
    return (~after).float(), has_eos


def left_pad(sequences: list[list[int]], pad_token_id: int) -> tuple[Any, Any]:
    """Left-padded ids and attention mask, so every prompt ends where its response starts."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
    return ids, mask


def position_ids(attention_mask: Any) -> Any:
    """Positions that start at 0 on each row's first real token (Huang §general, "Adjust position indices
    correspondingly for padding tokens")."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def sample_responses(
    model: Any,
    query_ids: Any,
    query_mask: Any,
    *,
    response_length: int,
    temperature: float,
    eos_token_id: int,
    pad_token_id: int,
    generator: Any = None,
) -> Any:
    """Sample `response_length` tokens per row with a KV cache; rows that ended are padded after EOS.

    A plain loop instead of `generate()`: with small models the per-token overhead of the generation
    utilities dominates, and we want exactly multinomial sampling of logits/temperature (Huang §policy,
    "Scale the logits by sampling temperature"), no top-k/top-p, with our own seeded generator.
    """
    import torch

    batch = query_ids.shape[0]
    mask = query_mask
    positions = position_ids(mask)
    out = model(input_ids=query_ids, attention_mask=mask, position_ids=positions, use_cache=True)
    past = out.past_key_values
    logits = out.logits[:, -1, :]
    next_position = positions[:, -1:] + 1
    tokens = torch.full((batch, response_length), pad_token_id, dtype=torch.long, device=query_ids.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=query_ids.device)
    ones = torch.ones((batch, 1), dtype=mask.dtype, device=mask.device)
    for t in range(response_length):
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        tokens[:, t] = token
        finished |= token == eos_token_id
        if bool(finished.all()) or t + 1 == response_length:
            break
        mask = torch.cat([mask, ones], dim=1)
        out = model(
            input_ids=token[:, None],
            attention_mask=mask,
            position_ids=next_position,
            past_key_values=past,
            use_cache=True,
        )
        past = out.past_key_values
        logits = out.logits[:, -1, :]
        next_position = next_position + 1
    return tokens


def same_tokenizer(a: Any, b: Any) -> bool:
    """True when two tokenizers give the same ids (same class and vocabulary)."""
    return type(a) is type(b) and len(a) == len(b) and a.get_vocab() == b.get_vocab()


def reads_policy_ids(scorer: Any, tokenizer: Any) -> bool:
    """Whether `scorer` is a reward model that can score the policy's token ids without decoding them."""
    from alignment.training.scoring import RewardModelScorer

    if not isinstance(scorer, RewardModelScorer):
        return False
    model = scorer.model
    return (
        hasattr(model, "score")
        and hasattr(model, model.base_model_prefix)
        and same_tokenizer(scorer.tokenizer, tokenizer)
    )


def score_ids(
    model: Any, query_response: Any, attention_mask: Any, has_eos: Any, eos_token_id: int, max_length: int
) -> Any:
    """Raw scores of a sequence-classification reward model on prompt + response + EOS, from the sampled ids.

    A response that ended is scored at its EOS; one cut off at response_length gets an EOS appended, as
    reward models are trained (TRL's RewardTrainer appends it) and as the text path
    (`RewardModelScorer.raw`) scores it. Decoding and re-tokenising instead is not the identity: it drops
    special tokens and bytes that are not valid UTF-8 and may split text differently, so the reward model
    would judge other tokens than the policy produced, and a critic initialised from the reward model
    would start out predicting another score than the one it is trained on.
    """
    import torch

    batch = query_response.shape[0]
    device = next(model.parameters()).device
    eos = torch.full((batch, 1), eos_token_id, dtype=query_response.dtype, device=query_response.device)
    ids = torch.cat([query_response, eos], dim=1).to(device)
    attention = torch.cat([attention_mask, (~has_eos).to(attention_mask.dtype)[:, None]], dim=1).to(device)
    # Drop the start of the prompt if the sequence is longer than the reward model takes (the text path
    # truncates the end instead, which would cut off the response).
    ids, attention = ids[:, -max_length:], attention[:, -max_length:]
    ends = attention.shape[1] - 1 - attention.flip(1).argmax(1)  # last attended position: the EOS
    backbone = getattr(model, model.base_model_prefix)
    hidden = backbone(
        input_ids=ids, attention_mask=attention, position_ids=position_ids(attention)
    ).last_hidden_state
    return model.score(hidden[torch.arange(batch, device=device), ends]).squeeze(-1).float()


def critic_values(critic: Any, query_response: Any, attention_mask: Any, context_length: int) -> Any:
    """Per-token values from a separate sequence-classification critic: its score head on every position."""
    backbone = getattr(critic, critic.base_model_prefix)
    hidden = backbone(
        input_ids=query_response, attention_mask=attention_mask, position_ids=position_ids(attention_mask)
    ).last_hidden_state
    return critic.score(hidden[:, context_length - 1 : -1, :]).squeeze(-1).float()


def forward_response(
    model: Any,
    value_head: Any,
    query_response: Any,
    attention_mask: Any,
    context_length: int,
    temperature: float,
    *,
    with_entropy: bool = False,
) -> tuple[Any, Any, Any]:
    """Log-probs of the response tokens, values before each of them (None without a head) and entropy.

    `value_head` is a `Linear` on the policy's last hidden state (shared trunk), a separate critic model
    (see `critic_values`), or None.
    """
    import torch

    critic = value_head if value_head is not None and not isinstance(value_head, torch.nn.Linear) else None
    head = None if critic is not None else value_head
    out = model(
        input_ids=query_response,
        attention_mask=attention_mask,
        position_ids=position_ids(attention_mask),
        output_hidden_states=head is not None,
        use_cache=False,
    )
    # Logits at position i predict token i+1: slice the ones that predict response tokens.
    logits = out.logits[:, context_length - 1 : -1, :].float() / temperature
    responses = query_response[:, context_length:]
    log_z = torch.logsumexp(logits, dim=-1)
    logprobs = torch.gather(logits, 2, responses.unsqueeze(-1)).squeeze(-1) - log_z
    values = None
    if head is not None:
        # Huang §general, "The reward model and policy's value head take input as the concatenation of
        # query and response": the value of state t is read where token t+1 is predicted.
        hidden = out.hidden_states[-1][:, context_length - 1 : -1, :]
        values = head(hidden.to(head.weight.dtype)).squeeze(-1)
    elif critic is not None:
        values = critic_values(critic, query_response, attention_mask, context_length)
    entropy = None
    if with_entropy:
        probs = torch.softmax(logits, dim=-1)
        entropy = log_z - (probs * logits).sum(-1)
    return logprobs, values, entropy


def ppo_losses(
    *,
    new_logprobs: Any,
    old_logprobs: Any,
    advantages: Any,
    values: Any,
    old_values: Any,
    returns: Any,
    mask: Any,
    cliprange: float,
    cliprange_value: float,
) -> dict[str, Any]:
    """PPO's clipped policy loss and clipped value loss (masked means), with clip fractions and approx-KL."""
    import torch

    # Huang §PPO, "Clipped value function": the critic may move only cliprange_value from its rollout
    # estimate per update; the max keeps the more pessimistic of the clipped and unclipped errors.
    values_clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    vf_losses1 = (values - returns) ** 2
    vf_losses2 = (values_clipped - returns) ** 2
    value_loss = 0.5 * masked_mean(torch.max(vf_losses1, vf_losses2), mask)
    log_ratio = (new_logprobs - old_logprobs) * mask
    ratio = torch.exp(log_ratio)
    # Schulman et al. (2017), eq. 7: the pessimistic bound of the clipped surrogate.
    pg_losses1 = -advantages * ratio
    pg_losses2 = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    policy_loss = masked_mean(torch.max(pg_losses1, pg_losses2), mask)
    with torch.no_grad():
        clipfrac = masked_mean((pg_losses2 > pg_losses1).float(), mask)
        value_clipfrac = masked_mean((vf_losses2 > vf_losses1).float(), mask)
        approx_kl = 0.5 * masked_mean(log_ratio**2, mask)
    return {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "clipfrac": clipfrac,
        "value_clipfrac": value_clipfrac,
        "approx_kl": approx_kl,
    }


# --- the run -------------------------------------------------------------------------------------


@dataclass
class _Rollout:
    query_response: Any
    attention_mask: Any
    context_length: int
    logprobs: Any
    values: Any
    mask: Any
    advantages: Any
    returns: Any


def train_ppo(
    config: PPOConfig,
    rows: Rows | None,
    out_dir: str | Path,
    *,
    progress: Progress | None = None,
    reward_fn: RewardFn | None = None,
    resume: bool = True,
) -> PPOResult:
    """Optimise the policy against the reward under the KL leash; resumes from out_dir's checkpoint if any.

    `rows` are dicts with a `prompt` (text or chat turns), or a data file path. `reward_fn`
    (prompts, responses) -> scores replaces the config's reward models, e.g. for rule-based rewards.
    """
    import torch

    from alignment.training.memory import ensure_fits, estimate_memory
    from alignment.training.models import load_policy, preflight, prompt_budget, save_policy, seq_length
    from alignment.training.scoring import load_reward

    started = time.perf_counter()
    config = preflight(config, reward_fn=reward_fn is not None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prompts = prompts_of(as_rows(rows, config.dataset))
    if not prompts:
        raise ValueError("ppo: no prompts")
    memory = estimate_memory(config)
    ensure_fits(memory)

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer = load_policy(config)
    model.to(device)
    model.eval()  # Huang §policy, "Disable dropout": sampling and training must see one network.
    value_head = _make_critic(config, model, tokenizer, device)
    reference = None
    if config.lora_r == 0:
        # Without adapters there is nothing to disable: the reference is a frozen copy.
        import copy

        reference = copy.deepcopy(model).requires_grad_(False)
    reward = load_reward(
        config.reward_model,
        config.reward_weights,
        reward_fn=reward_fn,
        bf16=config.bf16,
        max_length=seq_length(config),
    )

    by_ids = [reads_policy_ids(scorer, tokenizer) for scorer in reward.scorers]
    eos_id = int(tokenizer.eos_token_id)
    pad_id = int(tokenizer.pad_token_id)
    max_prompt = prompt_budget(seq_length(config), config.response_length)
    # Truncate from the left: the end of a conversation is what the response answers.
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"][-max_prompt:] for p in prompts]

    batch_size = config.per_device_train_batch_size * config.gradient_accumulation_steps
    total_episodes = config.total_episodes or math.ceil(config.num_train_epochs * len(prompts))
    total_steps = max(1, total_episodes // batch_size)
    if config.max_steps is not None:
        total_steps = config.max_steps
    updates = total_steps * config.ppo_epochs * config.num_mini_batches

    params = [p for p in model.parameters() if p.requires_grad] + list(value_head.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, eps=config.adam_eps, weight_decay=0.0)
    warmup = int(config.warmup_ratio * updates)

    def schedule(n: int) -> float:
        # Huang §general, "Learning rate annealing": linear decay to 0 over the run.
        if n < warmup:
            return (n + 1) / (warmup + 1)
        return max(0.0, 1.0 - (n - warmup) / max(1, updates - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    kl_ctl = AdaptiveKLController(config.kl_coef, config.target_kl, config.kl_horizon)
    kl_stop = (
        config.kl_stop if config.kl_stop is not None else (4 * config.target_kl if config.target_kl else None)
    )
    generator = torch.Generator(device=device).manual_seed(config.seed)

    state = _State()
    checkpoint = out / CHECKPOINT
    if resume and checkpoint.exists():
        state = _load_checkpoint(checkpoint, model, value_head, optimizer, scheduler, kl_ctl, generator)
    resumed_from = state.step

    emit(
        progress,
        "start",
        step="ppo",
        total_steps=total_steps,
        resumed_from_step=resumed_from,
        memory=memory.to_dict(),
        memory_table=memory.table(),
    )
    stopped = "completed"
    while state.step < total_steps:
        step_started = time.perf_counter()
        indices = _batch_indices(state.step, batch_size, len(prompts), config.seed)
        rollout, stats = _rollout(
            config,
            model,
            value_head,
            reference,
            tokenizer,
            reward,
            by_ids,
            [encoded[i] for i in indices],
            [prompts[i] for i in indices],
            kl_ctl.value,
            generator,
            eos_id,
            pad_id,
            device,
        )
        if kl_stop is not None and stats["kl"] > kl_stop:
            # A runaway KL means the policy is exploiting the reward model; more updates only make it worse.
            stopped = "kl_runaway"
            stats["step"] = state.step + 1
            state.history.append(stats)
            emit(progress, "stop", reason=stopped, kl=stats["kl"], kl_stop=kl_stop)
            break
        stats.update(_optimise(config, model, value_head, optimizer, scheduler, rollout, generator))
        kl_ctl.update(stats["kl"], batch_size)
        state.step += 1
        state.episodes += batch_size
        stats.update(
            step=state.step,
            episodes=state.episodes,
            kl_coef=kl_ctl.value,
            lr=float(scheduler.get_last_lr()[0]),
            step_time_s=time.perf_counter() - step_started,
        )
        state.history.append(stats)
        if config.save_steps and state.step % config.save_steps == 0 and state.step < total_steps:
            _save_checkpoint(checkpoint, state, model, value_head, optimizer, scheduler, kl_ctl, generator)
        emit(progress, "step", total_steps=total_steps, **stats)

    _save_checkpoint(checkpoint, state, model, value_head, optimizer, scheduler, kl_ctl, generator)
    policy_path = save_policy(model, tokenizer, out / "policy")
    if isinstance(value_head, torch.nn.Linear):
        value_head_path = out / "policy" / "value_head.pt"
        torch.save(value_head.state_dict(), value_head_path)
    else:
        value_head_path = out / "value_model"
        value_head.save_pretrained(value_head_path)
    (out / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in state.history))
    last = state.history[-1] if state.history else {}
    # One batch's mean reward mostly tells which prompts it drew (on long conversations the prompt decides
    # most of a score): first and last are means over up to 5 steps (a quarter of the run at most).
    window = max(1, min(5, len(state.history) // 4))
    rewards = [h["reward_mean"] for h in state.history if "reward_mean" in h]
    summary = {
        "reward_mean_first": sum(rewards[:window]) / len(rewards[:window]) if rewards else float("nan"),
        "reward_mean_last": sum(rewards[-window:]) / len(rewards[-window:]) if rewards else float("nan"),
        "kl_last": float(last.get("kl", float("nan"))),
        "kl_max": max((h["kl"] for h in state.history), default=float("nan")),
    }
    elapsed = time.perf_counter() - started
    result = PPOResult(
        step="ppo",
        out_dir=str(out),
        metrics=summary,
        memory=memory.to_dict(),
        elapsed_s=elapsed,
        policy_path=str(policy_path),
        value_head_path=str(value_head_path),
        checkpoint_path=str(checkpoint),
        steps=state.step,
        episodes=state.episodes,
        resumed_from_step=resumed_from,
        stopped_reason=stopped,
        kl_coef=kl_ctl.value,
        history=state.history,
    )
    result.write()
    emit(progress, "end", **summary, steps=state.step, stopped_reason=stopped)
    return result


def _make_critic(config: PPOConfig, model: Any, tokenizer: Any, device: Any) -> Any:
    """The value function: a zero-initialised head on the policy trunk, or a critic model from a path."""
    import torch

    if config.value_model is None:
        hidden_size = model.config.get_text_config().hidden_size
        head = torch.nn.Linear(hidden_size, 1).to(device)
        # Huang §policy, "Value head layer initialization": zero weights, so early values add no noise.
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.zeros_(head.bias)
        return head
    from transformers import AutoModelForSequenceClassification

    from alignment.training.config import ConfigError
    from alignment.training.models import load_tokenizer, resolve_model
    from alignment.training.scoring import as_list

    name = as_list(config.reward_model)[0] if config.value_model == "reward_model" else config.value_model
    location = resolve_model(name)
    if not same_tokenizer(load_tokenizer(location), tokenizer):
        raise ConfigError(
            "value_model",
            f"'value_model' {name!r} uses another tokenizer than the policy; a critic reads the policy's "
            "tokens, so use a model with the policy's tokenizer or null (a value head on the policy)",
        )
    # Initialising the critic from the reward model gives meaningful values from the first step
    # (Huang et al. 2024, "N+ implementation details", §PPO; TRL's PPO recipe does the same).
    critic = AutoModelForSequenceClassification.from_pretrained(location, num_labels=1)
    return critic.to(device).eval()  # eval mode only turns dropout off (Huang §policy, "Disable dropout")


def _batch_indices(step: int, batch_size: int, n_prompts: int, seed: int) -> list[int]:
    """Prompt indices of a step, a pure function of (step, seed): a resumed run draws the same prompts."""
    import torch

    out = []
    for episode in range(step * batch_size, (step + 1) * batch_size):
        epoch, position = divmod(episode, n_prompts)
        order = torch.randperm(n_prompts, generator=torch.Generator().manual_seed(seed * 1000003 + epoch))
        out.append(int(order[position]))
    return out


def _rollout(
    config: PPOConfig,
    model: Any,
    value_head: Any,
    reference: Any,
    tokenizer: Any,
    reward: Any,
    by_ids: list[bool],
    queries: list[list[int]],
    prompt_texts: list[str],
    kl_coef: float,
    generator: Any,
    eos_id: int,
    pad_id: int,
    device: Any,
) -> tuple[_Rollout, dict[str, float]]:
    import torch

    query_ids, query_mask = left_pad(queries, pad_id)
    query_ids, query_mask = query_ids.to(device), query_mask.to(device)
    context = query_ids.shape[1]
    with torch.no_grad():
        responses = sample_responses(
            model,
            query_ids,
            query_mask,
            response_length=config.response_length,
            temperature=config.temperature,
            eos_token_id=eos_id,
            pad_token_id=pad_id,
            generator=generator,
        )
        mask, has_eos = response_mask(responses, eos_id)
        query_response = torch.cat([query_ids, responses], dim=1)
        attention = torch.cat([query_mask, mask.long()], dim=1)
        logprobs, values, _ = forward_response(
            model, value_head, query_response, attention, context, config.temperature
        )
        if reference is None:
            with model.disable_adapter():
                ref_logprobs, _, _ = forward_response(
                    model, None, query_response, attention, context, config.temperature
                )
        else:
            ref_logprobs, _, _ = forward_response(
                reference, None, query_response, attention, context, config.temperature
            )

        texts = []
        for row in range(responses.shape[0]):
            length = int(mask[row].sum())
            ids = responses[row, :length].tolist()
            if ids and ids[-1] == eos_id:
                ids = ids[:-1]
            texts.append(tokenizer.decode(ids, skip_special_tokens=True))
        scores = _score(reward, by_ids, prompt_texts, texts, query_response, attention, has_eos, eos_id)
        scores = scores.to(device)
        raw_scores = scores.clone()
        baseline = torch.zeros_like(scores)
        if config.reward_baseline == "empty_response":
            # The score the reward model gives the prompt with an empty response: a per-prompt constant,
            # so subtracting it leaves the policy gradient's expectation as it is, while it removes the
            # part of the score that only the prompt decides (on long conversations most of it).
            empty = torch.zeros_like(has_eos)
            baseline = _score(
                reward, by_ids, prompt_texts, [""] * len(texts), query_ids, query_mask, empty, eos_id
            ).to(device)
            scores = scores - baseline
        if config.missing_eos_penalty is not None:
            # Huang §policy, "reward -1 for responses that are truncated": a response that never
            # ends is penalised, so the policy learns to finish its answers.
            scores = scores - config.missing_eos_penalty * (~has_eos).float()

        # Huang §policy, "per-token KL penalty": every token pays β·(log π − log π_ref); the score
        # arrives on the last real token.
        kl = (logprobs - ref_logprobs) * mask
        rewards = -kl_coef * kl
        last = (mask.sum(1).long() - 1).clamp(min=0)
        rewards[torch.arange(rewards.shape[0], device=device), last] += scores
        if config.whiten_rewards:
            rewards = masked_whiten(rewards, mask, shift_mean=False)
        values = values * mask
        advantages, returns = gae(rewards, values, mask, gamma=config.gamma, lam=config.lam)
        if config.whiten_advantages:
            # Huang §PPO, "Per-minibatch advantage whitening" (done per rollout batch).
            advantages = masked_whiten(advantages, mask)

    stats = {
        "reward_mean": float(raw_scores.mean()),
        "reward_std": float(raw_scores.std()) if raw_scores.numel() > 1 else 0.0,
        "score_mean": float(scores.mean()),
        "baseline_mean": float(baseline.mean()),
        "kl": float(kl.sum(1).mean()),
        "non_score_reward": float((-kl_coef * kl).sum(1).mean()),
        "eos_fraction": float(has_eos.float().mean()),
        "response_length": float(mask.sum(1).mean()),
    }
    rollout = _Rollout(query_response, attention, context, logprobs, values, mask, advantages, returns)
    return rollout, stats


def _score(
    reward: Any,
    by_ids: list[bool],
    prompt_texts: list[str],
    texts: list[str],
    query_response: Any,
    attention_mask: Any,
    has_eos: Any,
    eos_id: int,
) -> Any:
    """The weighted reward of each response: from the sampled ids where a reward model reads them, else
    from the decoded text."""
    import torch

    if not any(by_ids):
        return torch.as_tensor(reward(prompt_texts, texts), dtype=torch.float32).reshape(-1)
    total = torch.zeros(len(texts))
    for scorer, weight, reads_ids in zip(reward.scorers, reward.weights, by_ids, strict=True):
        if reads_ids:
            raw = score_ids(
                scorer.model, query_response, attention_mask, has_eos, eos_id, scorer.max_length
            ).cpu()
            part = scorer.calibrate(raw, texts)
        else:
            part = torch.as_tensor(scorer(prompt_texts, texts), dtype=torch.float32).reshape(-1)
        total = total + weight * part
    return total


def _optimise(
    config: PPOConfig,
    model: Any,
    value_head: Any,
    optimizer: Any,
    scheduler: Any,
    rollout: _Rollout,
    generator: Any,
) -> dict[str, float]:
    import torch

    batch = rollout.query_response.shape[0]
    minibatch = batch // config.num_mini_batches
    micro = min(config.per_device_train_batch_size, minibatch)
    totals: dict[str, float] = {
        "policy_loss": 0.0,
        "value_loss": 0.0,
        "entropy": 0.0,
        "clipfrac": 0.0,
        "approx_kl": 0.0,
        "value_clipfrac": 0.0,
    }
    count = 0
    stopped_early = 0.0
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for _epoch in range(config.ppo_epochs):
        order = torch.randperm(batch, generator=generator, device=generator.device).to(
            rollout.query_response.device
        )
        epoch_kl = []
        for start in range(0, batch, minibatch):
            mb = order[start : start + minibatch]
            optimizer.zero_grad(set_to_none=True)
            for micro_start in range(0, minibatch, micro):
                idx = mb[micro_start : micro_start + micro]
                mask = rollout.mask[idx]
                new_logprobs, vpred, entropy = forward_response(
                    model,
                    value_head,
                    rollout.query_response[idx],
                    rollout.attention_mask[idx],
                    rollout.context_length,
                    config.temperature,
                    with_entropy=True,
                )
                losses = ppo_losses(
                    new_logprobs=new_logprobs,
                    old_logprobs=rollout.logprobs[idx],
                    advantages=rollout.advantages[idx],
                    values=vpred,
                    old_values=rollout.values[idx],
                    returns=rollout.returns[idx],
                    mask=mask,
                    cliprange=config.cliprange,
                    cliprange_value=config.cliprange_value,
                )
                loss = losses["policy_loss"] + config.vf_coef * losses["value_loss"]
                (loss * (idx.numel() / minibatch)).backward()
                with torch.no_grad():
                    for name in ("policy_loss", "value_loss", "clipfrac", "value_clipfrac", "approx_kl"):
                        totals[name] += float(losses[name])
                    totals["entropy"] += float(masked_mean(entropy, mask))
                    approx_kl = losses["approx_kl"]
                    epoch_kl.append(float(approx_kl))
                    count += 1
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
        if config.max_approx_kl is not None and sum(epoch_kl) / len(epoch_kl) > 1.5 * config.max_approx_kl:
            # The policy moved further from the rollout policy than the trust region allows: the
            # remaining epochs would optimise on stale samples (early stopping as in OpenAI baselines PPO).
            stopped_early = 1.0
            break
    out = {name: value / max(1, count) for name, value in totals.items()}
    out["ppo_early_stop"] = stopped_early
    return out


# --- checkpoints ---------------------------------------------------------------------------------


@dataclass
class _State:
    step: int = 0
    episodes: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def _trainable_state(model: Any) -> dict[str, Any]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _save_checkpoint(
    path: Path,
    state: _State,
    model: Any,
    value_head: Any,
    optimizer: Any,
    scheduler: Any,
    kl_ctl: AdaptiveKLController,
    generator: Any,
) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "step": state.step,
        "episodes": state.episodes,
        "history": state.history,
        "policy": _trainable_state(model),
        "value_head": value_head.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "kl_coef": kl_ctl.value,
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
    }
    staging = path.with_suffix(".tmp")
    torch.save(payload, staging)
    os.replace(staging, path)  # atomic: a kill mid-write leaves the previous checkpoint intact


def _load_checkpoint(
    path: Path,
    model: Any,
    value_head: Any,
    optimizer: Any,
    scheduler: Any,
    kl_ctl: AdaptiveKLController,
    generator: Any,
) -> _State:
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=False)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in payload["policy"].items():
            params[name].copy_(tensor)
    value_head.load_state_dict(payload["value_head"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    kl_ctl.value = float(payload["kl_coef"])
    generator.set_state(payload["generator"])
    torch.set_rng_state(payload["torch_rng"])
    random.setstate(payload["python_rng"])
    return _State(
        step=int(payload["step"]), episodes=int(payload["episodes"]), history=list(payload["history"])
    )
