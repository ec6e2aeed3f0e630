"""Fixtures for the training library tests: the built-in tiny models by path, one torch thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_thread(model_cache: Path) -> None:
    """Tiny models on a 2-core runner: one intra-op thread avoids thread hand-off costs that dominate
    matrices this small. (The built models live in tests/conftest.py's ``model_cache``.)"""
    import torch

    torch.set_num_threads(1)


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

    folder = model_cache / "other-policy-seed1"
    return str(folder if (folder / "config.json").exists() else build_tiny(folder, seed=1, pretraining=None))


@pytest.fixture(scope="session")
def random_policy(model_cache: Path) -> str:
    """The built-in policy's network without its pretraining (what `concord/tiny` was before v2): for tests of
    the optimisers' mechanics on a rule reward, which need a policy far from that reward's optimum (the
    pretrained one already writes mostly lowercase text)."""
    from alignment.training.tiny import build_tiny

    folder = model_cache / "random-policy-seed0"
    return str(folder if (folder / "config.json").exists() else build_tiny(folder, seed=0, pretraining=None))


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
