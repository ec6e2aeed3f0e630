"""``manage.py run_demo`` on the embedded default stops its Celery worker on every stop signal; the demo
project is ready for a round (agreed pairs and a plan with tiny configs) as soon as it is loaded.

A real ``run_demo`` runs as a subprocess (SQLite and kombu's filesystem broker in a temporary
``CONCORD_VAR_DIR``, on a free port); once its web port answers and its worker is up, it
gets the signal, and no process it started may be left: none whose parent was the demo, and
none whose command line or environment names the temporary folder.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:  # gone, or not ours to read
        return b""


def _parent(pid: int) -> int:
    stat = _read(f"/proc/{pid}/stat").decode(errors="replace")
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[1]) if len(fields) > 1 else -1


def _alive(pid: int) -> bool:
    stat = _read(f"/proc/{pid}/stat").decode(errors="replace")
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] != "Z"


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _children_of(pid: int) -> list[int]:
    return [p for p in _pids() if _parent(p) == pid and _alive(p)]


def _naming(folder: Path) -> list[int]:
    """Live processes (ours) whose command line or environment names ``folder``."""
    marker = str(folder).encode()
    me = os.getpid()
    found = []
    for pid in _pids():
        if pid == me or not _alive(pid):
            continue
        if marker in _read(f"/proc/{pid}/cmdline") or marker in _read(f"/proc/{pid}/environ"):
            found.append(pid)
    return found


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/")
    except OSError:
        return False


def _wait(
    what: str, check: Callable[[], object], timeout: float, demo: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if demo.poll() is not None:
            output = log.read_text(errors="replace")
            pytest.fail(f"run_demo exited with {demo.returncode} before {what}:\n{output[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


class RunDemoTests:
    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
    def test_it_leaves_no_child_process_after_a_stop_signal(
        self, tmp_path: Path, signum: signal.Signals
    ) -> None:
        var_dir = tmp_path / "var"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
        env.update(CONCORD_VAR_DIR=str(var_dir), PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        port = _free_port()
        log_path = tmp_path / "run_demo.log"
        log = log_path.open("wb")  # a file, not a pipe: nobody reads a pipe while the demo runs
        demo = subprocess.Popen(
            [sys.executable, str(REPO / "manage.py"), "run_demo", "--port", str(port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            _wait("the web port to answer", lambda: _port_answers(port), 90, demo, log_path)
            _wait("the Celery worker to start", lambda: _children_of(demo.pid), 30, demo, log_path)
            children = _children_of(demo.pid)
            started = set(children) | set(_naming(var_dir))
            assert any(b"celery" in _read(f"/proc/{pid}/cmdline") for pid in children), "no worker child"
            demo.send_signal(signum)
            demo.wait(timeout=60)
            left = {pid for pid in started if _alive(pid)} | set(_naming(var_dir))
            assert left == set(), f"left running: {[_read(f'/proc/{p}/cmdline') for p in left]}"
            assert demo.returncode == 128 + signum
            assert f"Stopped by {signum.name}" in log_path.read_text(errors="replace")
        finally:
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
            for pid in _naming(var_dir):
                os.kill(pid, signal.SIGKILL)
            log.close()


@pytest.mark.django_db
class DemoRoundTests:
    def test_the_demo_loads_verdicts_once_and_a_plan_a_round_can_snapshot(
        self, settings: Any, tmp_path: Path
    ) -> None:
        from alignment.models import AlignmentRound, RoundState
        from alignment.services.rounds import round_start, round_step_run
        from alignment.services.steps import MIN_PAIRS
        from annotate.demo import DEMO_PLAN, demo_load
        from annotate.models import Judgment

        settings.CONCORD_MODEL_ROOT = tmp_path / "models"
        first = demo_load(prompts=30)
        again = demo_load(prompts=30)
        assert first.verdicts == 24 and again.verdicts == 0  # the 24 prompts of 30 that are not conversations
        assert (again.prompts, again.comparisons) == (first.prompts, first.comparisons)
        assert Judgment.objects.filter(comparison__project=first.project, is_imported=True).count() == 24
        plan = first.project.alignment_plan
        assert (
            plan.reward_config == DEMO_PLAN["reward_config"]
            and plan.policy_config == DEMO_PLAN["policy_config"]
        )

        round_ = round_start(project=first.project)
        assert round_step_run(round_id=round_.pk, state=RoundState.SNAPSHOTTING) == "advanced"
        round_ = AlignmentRound.objects.get(pk=round_.pk)
        assert round_.state == RoundState.TRAINING_REWARD
        assert round_.metrics[RoundState.SNAPSHOTTING]["pairs"] >= max(MIN_PAIRS, 24)
