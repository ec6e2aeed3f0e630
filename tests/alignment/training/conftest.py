"""Fixtures for the training library tests: the built-in tiny models, built once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Build the tiny models into a session folder, never into the user's cache."""
    folder = tmp_path_factory.mktemp("concord-models")
    previous = os.environ.get("CONCORD_MODEL_CACHE")
    os.environ["CONCORD_MODEL_CACHE"] = str(folder)
    import torch

    # Tiny models on a 2-core runner: one intra-op thread avoids thread hand-off costs that dominate
    # matrices this small.
    torch.set_num_threads(1)
    yield folder
    if previous is None:
        os.environ.pop("CONCORD_MODEL_CACHE", None)
    else:
        os.environ["CONCORD_MODEL_CACHE"] = previous


@pytest.fixture(scope="session")
def tiny_policy(model_cache: Path) -> str:
    from alignment.training.tiny import tiny_path

    return str(tiny_path("concord/tiny"))


@pytest.fixture(scope="session")
def tiny_reward(model_cache: Path) -> str:
    from alignment.training.tiny import tiny_path

    return str(tiny_path("concord/tiny-reward"))


@pytest.fixture(scope="session")
def other_policy(model_cache: Path) -> str:
    """A causal LM with the policy's tokenizer but other weights (random-init, seed 1): a reference that is
    not the start policy, as an alignment round's fixed base is not its previous champion."""
    from alignment.training.tiny import build_tiny

    return str(build_tiny(model_cache / "other-policy", seed=1, pretraining=None))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No hub (as on this machine, whatever machine the test runs on) and an empty hub cache of our own."""
    from huggingface_hub import constants

    from alignment.training.locate import forget_hub_probe

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    forget_hub_probe()
    yield cache
    forget_hub_probe()
