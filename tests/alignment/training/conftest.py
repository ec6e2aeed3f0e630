"""Fixtures for the training library tests: the built-in tiny models, built once and kept in pytest's cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def model_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Build the tiny models into pytest's cache folder, never into the user's cache.

    Kept between runs (a session folder only where the cache plugin is off): the built-in policy is
    pretrained when it is built (tens of seconds), and a build is the same for a given version and seed,
    which its folder name carries.
    """
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("concord-models") if cache is not None else tmp_path_factory.mktemp("concord-models")
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
