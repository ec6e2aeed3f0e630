"""The snapshot, files and texts shared by the export tests."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from annotate.aggregation.selection import SnapshotFilters
from annotate.models import ExportJob, Project, Snapshot
from annotate.services.snapshots import snapshot_create
from tests.factories import make_annotators, make_comparison, make_judgment

LENIENT = SnapshotFilters(min_votes=1, min_agreement=0.0, drop_flagged=False)
CHAT = [
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Name a colour."},
]


@pytest.fixture
def snapshot(project: Project) -> Snapshot:
    users = make_annotators(project, 2)
    chat = make_comparison(project, prompt=CHAT, a="Blue.", b="I’d rather not — ünïcode")
    single = make_comparison(project, prompt="What is 2+2?", a="5", b="4")
    make_judgment(chat, users[0], "a", strength="significantly")
    make_judgment(chat, users[1], "a", strength="slightly")
    make_judgment(single, users[0], "b", strength="better")
    make_judgment(single, users[1], "a", strength="better")
    make_judgment(single, None, "b")
    return snapshot_create(project=project, filters=LENIENT)


HH_CHAT = "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Name a colour.\n\nAssistant: "
HH_SINGLE = "\n\nHuman: What is 2+2?\n\nAssistant: "


def _jsonl(path: Path) -> list[dict[str, object]]:
    # Lines end at "\n" only: str.splitlines would also split inside a JSON string at U+2028.
    return [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]


def _pairs(snapshot: Snapshot) -> list[str]:
    return sorted(json.dumps(row) for row in snapshot.pairs.values_list("prompt", "chosen", "rejected"))


def _processed_seen_by_another_connection(job_id: int) -> int:
    def read() -> int:
        try:
            return ExportJob.objects.get(pk=job_id).processed
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(read).result()


AWKWARD_TEXTS = [
    'She said "hi" \\ then left\\',  # quotes, backslashes, a trailing backslash
    "tab\there\r\nCRLF\nnewline\x01\x08\x0c\x1e\x1f\x7f end",  # controls, incl. COPY's delimiter and quote bytes
    "emoji 😀🎉 ünïcode — \u2028 \u2029 \ufeff 𝔘 中文",
    "\\.",  # COPY's end-of-data marker on its own
    '{"json": "inside", "n": [1, 2.0]}',
    " ",
]


def _awkward_snapshot(project: Project) -> Snapshot:
    """Pairs whose prompts and responses hold everything JSON has to escape, with null, whole and fractional stats."""
    users = make_annotators(project, 3)
    multi_turn = [
        {"role": "system", "content": 'Be brief.\tNo "quotes".'},
        {"role": "Human", "content": 'Hi\nthere \\ "q" 😀'},
        {"role": "GPT", "content": "Hello!\x02"},
        {"role": "tool_Output", "content": '{"k": "v\\\\"}'},
        {"role": "user", "content": "\r\n\u2028"},
    ]
    for n, text in enumerate(AWKWARD_TEXTS):
        prompt = multi_turn if n % 2 else f"Prompt {n}: {text}"
        comparison = make_comparison(project, prompt=prompt, a=f"{text} (a{n})", b=f"(b{n}) {text}")
        if n % 3 == 0:
            make_judgment(comparison, None, "a", seconds=None)  # imported only: null margin
        elif n % 3 == 1:
            make_judgment(comparison, users[0], "b", strength="significantly")
            make_judgment(comparison, users[1], "b", strength="significantly")
            make_judgment(comparison, users[2], "b", strength="better")  # margin 2.6666666666666665
        else:
            make_judgment(comparison, users[0], "a", strength="negligibly")  # margin 0.0
            make_judgment(comparison, users[1], "a")
            make_judgment(comparison, users[2], "b", strength="slightly")  # agreement 0.6666666666666666
    return snapshot_create(project=project, filters=LENIENT)


# A snapshot for the unpaired (KTO) export: one pair, one both-bad and one tie comparison, kept by keep_unpaired.
UNPAIRED = SnapshotFilters(
    min_votes=1, min_agreement=0.0, drop_flagged=False, drop_ties=False, keep_unpaired=True
)


def unpaired_snapshot(project: Project, filters: SnapshotFilters = UNPAIRED) -> Snapshot:
    """A preference ("4" over "5"), a both-bad comparison ("Seven." / "Purple-ish?") and a tie ("Hi!" / "Hello!")."""
    users = make_annotators(project, 2)
    voted = [
        (make_comparison(project, prompt="What is 2+2?", a="4", b="5"), "a"),
        (make_comparison(project, prompt=CHAT, a="Seven.", b="Purple-ish?"), "both_bad"),
        (make_comparison(project, prompt="Say hi.", a="Hi!", b="Hello!"), "tie"),
    ]
    for comparison, choice in voted:
        for user in users:
            make_judgment(comparison, user, choice, strength="better" if choice == "a" else "")
    return snapshot_create(project=project, filters=filters)
