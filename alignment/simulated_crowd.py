"""Simulated annotators who label through the REST API like any client, each with its own account and token.

For ``bench/loop.py``, ``manage.py simulate_loop`` and the loop tests. Each annotator's true
preference is an oracle ``score(prompt, response) -> float`` that the caller passes in (loaded
from ``--oracle MODULE:FUNCTION``); nothing on the server side ever sees it. An annotator
prefers the left response with probability σ((o(left) − o(right)) / τ), says tie when the two
are within ``TIE_MARGIN``, and sets the strength from the gap. The crowd mixes careful and
average annotators (τ drawn per annotator) with spammers (random, always-left).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

TIE_MARGIN = 0.01
Oracle = Callable[[str, str], float]


def load_oracle(spec: str) -> Oracle:
    """``MODULE:FUNCTION`` or ``path/to/file.py:FUNCTION``; ValueError saying what is wrong."""
    module_name, _, function = spec.rpartition(":")
    if not module_name or not function:
        raise ValueError(f"oracle {spec!r}: expected MODULE:FUNCTION or path/to/file.py:FUNCTION")
    if module_name.endswith(".py") or os.sep in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise ValueError(f"oracle {spec!r}: no file {path}")
        loaded = importlib.util.spec_from_file_location(f"oracle_{path.stem}", path)
        if loaded is None or loaded.loader is None:
            raise ValueError(f"oracle {spec!r}: cannot load {path}")
        module = importlib.util.module_from_spec(loaded)
        loaded.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    oracle = getattr(module, function, None)
    if not callable(oracle):
        raise ValueError(f"oracle {spec!r}: {module_name} has no function {function!r}")
    return oracle


@dataclass
class Annotator:
    name: str
    kind: str  # careful, average, random, always_left
    tau: float
    token: str = ""
    votes: int = 0


# τ of each kind, in oracle units: a careful annotator separates gaps of a few hundredths.
TAU = {"careful": 0.03, "average": 0.1, "random": 1.0, "always_left": 1.0}


def crowd_draw(n: int, *, spammer_share: float = 0.2, seed: int = 0, prefix: str = "sim") -> list[Annotator]:
    """A mixed crowd: spammers (random and always-left in turn), then careful and average in turn."""
    rng = random.Random(seed)
    spammers = round(n * spammer_share)
    kinds = ["random" if i % 2 == 0 else "always_left" for i in range(spammers)]
    kinds += ["careful" if i % 2 == 0 else "average" for i in range(n - spammers)]
    return [
        Annotator(name=f"{prefix}{i}", kind=k, tau=TAU[k] * math.exp(rng.gauss(0, 0.3)))
        for i, k in enumerate(kinds)
    ]


def strength_of(gap: float) -> str:
    gap = abs(gap)
    return (
        "significantly"
        if gap > 0.3
        else "better"
        if gap > 0.15
        else "slightly"
        if gap > 0.05
        else "negligibly"
    )


def decide(who: Annotator, gap: float, rng: random.Random) -> tuple[str, str]:
    """(choice, strength) in screen terms for a gap o(left) − o(right)."""
    if who.kind == "random":
        return rng.choice(["a", "b"]), ""
    if who.kind == "always_left":
        return "a", ""
    if abs(gap) < TIE_MARGIN:
        return "tie", ""
    p_left = 1 / (1 + math.exp(-max(-50.0, min(50.0, gap / who.tau))))
    return ("a" if rng.random() < p_left else "b"), strength_of(gap)


@dataclass
class CrowdStats:
    votes: int = 0
    agree: int = 0  # votes for a side on pairs the oracle separates, that agree with it
    decided: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def agreement(self) -> float | None:
        with self.lock:
            return self.agree / self.decided if self.decided else None


class Crowd:
    """The annotators as threads, each with its own keep-alive connection and token, until ``close``."""

    def __init__(
        self, annotators: list[Annotator], oracle: Oracle, *, slug: str, host: str, port: int, seed: int = 0
    ) -> None:
        self.annotators, self.oracle, self.slug = annotators, oracle, slug
        self.host, self.port, self.seed = host, port, seed
        self.stats = CrowdStats()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.threads = [
            threading.Thread(target=self._run, args=(a, i), daemon=True, name=f"crowd-{a.name}")
            for i, a in enumerate(annotators)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _post(
        self, conn: HTTPConnection, token: str, path: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        conn.request("POST", path, json.dumps(body), headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {})

    def _run(self, who: Annotator, index: int) -> None:
        from alignment.training.rows import prompt_text

        rng = random.Random(self.seed * 1000 + index)
        conn = HTTPConnection(self.host, self.port, timeout=30)
        task: dict[str, Any] | None = None
        while not self.stop.is_set():
            try:
                if task is None:
                    status, body = self._post(conn, who.token, f"/api/projects/{self.slug}/next/", {})
                    task = body.get("task") if status == 200 else None
                    if task is None:
                        self.stop.wait(1.0)
                        continue
                prompt = prompt_text(task["prompt"])
                gap = self.oracle(prompt, task["response_left"]) - self.oracle(prompt, task["response_right"])
                choice, strength = decide(who, gap, rng)
                status, body = self._post(
                    conn,
                    who.token,
                    f"/api/assignments/{task['assignment']}/submit/",
                    {"choice": choice, "strength": strength, "seconds_spent": rng.uniform(4, 15)},
                )
                task = None
                if status in (200, 201):
                    who.votes += 1
                    with self.stats.lock:
                        self.stats.votes += 1
                        if abs(gap) >= TIE_MARGIN and choice in ("a", "b"):
                            self.stats.decided += 1
                            self.stats.agree += (choice == "a") == (gap > 0)
                    task = body.get("next")
            except (OSError, ValueError) as exc:  # a restarted server or a dropped connection: reconnect
                self.errors.append(f"{who.name}: {exc}")
                conn.close()
                conn = HTTPConnection(self.host, self.port, timeout=30)
                task = None
                self.stop.wait(0.5)


def crowd_accounts(*, project: Any, annotators: list[Annotator]) -> None:
    """An account, membership and API token for each simulated annotator (made once, reused after)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from annotate.models import Membership

    User = get_user_model()
    for who in annotators:
        user, created = User.objects.get_or_create(username=who.name)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        Membership.objects.get_or_create(project=project, user=user)
        who.token = Token.objects.get_or_create(user=user)[0].key
