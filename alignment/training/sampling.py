"""Sampling from a causal LM and reading log-probs back: what PPO's rollout, generation and evaluation share.

Padding is on the left, so every prompt ends where its response starts, and positions restart at 0 on
each row's first real token (Huang, Liu, von Werra, "The N Implementation Details of RLHF with PPO", 2024,
cited as in `ppo`). Everything here is inference: no optimiser, no reward.
"""

from __future__ import annotations

from typing import Any


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


def decode_responses(tokenizer: Any, responses: Any, mask: Any, eos_id: int) -> list[str]:
    """Each response's text: its tokens up to the first EOS, without the EOS and without special tokens."""
    texts = []
    for row in range(responses.shape[0]):
        ids = responses[row, : int(mask[row].sum())].tolist()
        if ids and ids[-1] == eos_id:
            ids = ids[:-1]
        texts.append(tokenizer.decode(ids, skip_special_tokens=True))
    return texts


def sample_texts(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    n: int,
    response_length: int,
    temperature: float,
    max_prompt_tokens: int,
    batch_size: int,
    generator: Any = None,
) -> tuple[list[list[str]], Any, Any]:
    """n sampled responses per prompt as text, plus the (prompt ids, response ids) of the last batch for reuse."""
    import torch

    device = next(model.parameters()).device
    eos_id, pad_id = int(tokenizer.eos_token_id), int(tokenizer.pad_token_id)
    out: list[list[str]] = []
    query_ids = responses = None
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        encoded = [tokenizer(p, add_special_tokens=False)["input_ids"][-max_prompt_tokens:] for p in chunk]
        query_ids, query_mask = left_pad([e for e in encoded for _ in range(n)], pad_id)
        with torch.no_grad():
            responses = sample_responses(
                model,
                query_ids.to(device),
                query_mask.to(device),
                response_length=response_length,
                temperature=temperature,
                eos_token_id=eos_id,
                pad_token_id=pad_id,
                generator=generator,
            )
        mask, _ = response_mask(responses, eos_id)
        texts = decode_responses(tokenizer, responses, mask, eos_id)
        out.extend(texts[i * n : (i + 1) * n] for i in range(len(chunk)))
    return out, query_ids, responses


def sequence_logprobs(
    model: Any, query_ids: Any, responses: Any, eos_id: int, pad_id: int, temperature: float
) -> Any:
    """Sum of log-probabilities of each response (up to its first EOS) under `model`."""
    import torch

    query_mask = (query_ids != pad_id).long()
    mask, _ = response_mask(responses, eos_id)
    with torch.no_grad():
        logprobs, _, _ = forward_response(
            model,
            None,
            torch.cat([query_ids, responses], 1),
            torch.cat([query_mask, mask.long()], 1),
            query_ids.shape[1],
            temperature,
        )
    return (logprobs * mask).sum(1)
