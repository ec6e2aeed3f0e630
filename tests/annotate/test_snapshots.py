from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from annotate.aggregation.selection import SnapshotFilters
from annotate.models import Comparison, Project, Snapshot, SnapshotPair
from annotate.models.snapshots import SnapshotImmutable
from annotate.selectors.pairs import pair_selection
from annotate.services import snapshots as snapshot_services
from annotate.services.decontamination import benchmark_index_build
from annotate.services.snapshots import snapshot_create
from tests.annotate.services.export_helpers import UNPAIRED, unpaired_snapshot
from tests.factories import make_annotators, make_comparison, make_judgment, make_voted_pairs

pytestmark = pytest.mark.django_db

LENIENT = SnapshotFilters(min_votes=1, min_agreement=0.0, drop_flagged=False)


def _one_hasty_vote_against_a_careful_one(project: Project) -> User:
    """One comparison: a careful "a" and a "b" from an annotator under the median-seconds floor (flagged fast)."""
    project.min_median_seconds = 5.0
    project.save()
    careful, hasty = make_annotators(project, 2)
    comparison = make_comparison(project)
    make_judgment(comparison, careful, "a", seconds=30.0)
    make_judgment(comparison, hasty, "b", seconds=1.0)
    return hasty


class SnapshotCreateTests:
    def test_it_keeps_the_pairs_that_pass_and_counts_why_the_others_did_not(self, project: Project) -> None:
        users = make_annotators(project, 3)
        kept, *_ = make_voted_pairs(
            project,
            list(users),
            [["a", "a", "a"], ["a", "b", ""], ["a", "a", "b"], ["b", "", ""], ["tie", "both_bad", ""]],
        )
        make_comparison(project)  # never voted on
        filters = SnapshotFilters(min_votes=2, min_agreement=0.7, drop_ties=False, drop_flagged=False)
        snapshot = snapshot_create(project=project, filters=filters)
        assert snapshot.version == 1
        assert list(snapshot.pairs.values_list("comparison_id", flat=True)) == [kept.pk]
        assert snapshot.counts["comparisons"] == 6
        assert snapshot.counts["no_votes"] == 1
        assert snapshot.counts["too_few_votes"] == 1
        assert snapshot.counts["no_winner"] == 2  # a-vs-b split, and tie-vs-both_bad split
        assert snapshot.counts["low_agreement"] == 1
        assert snapshot.counts["pairs"] == snapshot.pair_count == 1
        assert snapshot.filters == filters.as_dict()

    def test_it_orients_the_pair_and_copies_prompt_and_texts(self, project: Project) -> None:
        users = make_annotators(project, 2)
        comparison = make_comparison(project, prompt="Why is the sky blue?", a="Magic.", b="Rayleigh scattering.")
        for user in users:
            make_judgment(comparison, user, "b", strength="significantly")
        snapshot = snapshot_create(project=project, filters=LENIENT)
        pair = snapshot.pairs.get()
        assert pair.prompt == [{"role": "user", "content": "Why is the sky blue?"}]
        assert (pair.chosen, pair.rejected, pair.chosen_is_a) == ("Rayleigh scattering.", "Magic.", False)
        assert (pair.votes, pair.agreement, pair.posterior) == (2, 1.0, 1.0)
        assert pair.margin == 3.0

    def test_it_averages_the_margin_over_the_agreeing_votes_only(self, project: Project) -> None:
        users = make_annotators(project, 4)
        comparison = make_comparison(project)
        make_judgment(comparison, users[0], "a", strength="significantly")
        make_judgment(comparison, users[1], "a", strength="slightly")
        make_judgment(comparison, users[2], "a", strength="")
        make_judgment(comparison, users[3], "b", strength="significantly")
        pair = snapshot_create(project=project, filters=LENIENT).pairs.get()
        assert pair.margin == pytest.approx((3 + 1) / 2)
        assert pair.agreement == pytest.approx(0.75)

    def test_it_counts_imported_judgments_as_votes(self, project: Project) -> None:
        comparison = make_comparison(project)
        make_judgment(comparison, None, "a", seconds=None)
        pair = snapshot_create(project=project, filters=LENIENT).pairs.get()
        assert (pair.comparison_id, pair.votes, pair.margin) == (comparison.pk, 1, None)

    def test_it_numbers_versions_per_project(self, project: Project) -> None:
        other = Project.objects.create(name="Other", slug="other")
        make_voted_pairs(project, make_annotators(project, 1), [["a"]])
        assert [snapshot_create(project=project, filters=LENIENT).version for _ in range(3)] == [1, 2, 3]
        assert snapshot_create(project=other, filters=LENIENT).version == 1

    def test_it_refuses_to_change_a_snapshot_or_its_pairs(self, project: Project) -> None:
        make_voted_pairs(project, make_annotators(project, 1), [["a"]])
        snapshot = snapshot_create(project=project, filters=LENIENT)
        snapshot.counts = {}
        with pytest.raises(SnapshotImmutable):
            snapshot.save()
        with pytest.raises(SnapshotImmutable):
            Snapshot.objects.filter(pk=snapshot.pk).update(pair_count=0)
        pair = snapshot.pairs.get()
        pair.chosen = "tampered"
        with pytest.raises(SnapshotImmutable):
            pair.save()
        with pytest.raises(SnapshotImmutable):
            SnapshotPair.objects.filter(snapshot=snapshot).update(chosen="tampered")

    def test_it_hashes_equal_content_equally(self, project: Project) -> None:
        users = make_annotators(project, 2)
        (comparison,) = make_voted_pairs(project, users[:1], [["a"]])
        first = snapshot_create(project=project, filters=LENIENT)
        second = snapshot_create(project=project, filters=LENIENT)
        assert first.content_hash == second.content_hash
        make_judgment(comparison, users[1], "b")
        make_judgment(make_comparison(project), users[1], "b")
        assert snapshot_create(project=project, filters=LENIENT).content_hash != first.content_hash

    def test_it_drops_tie_votes_before_counting_when_asked(self, project: Project) -> None:
        users = make_annotators(project, 3)
        make_voted_pairs(project, users, [["a", "tie", "both_bad"]])
        kept = snapshot_create(project=project, filters=SnapshotFilters(min_agreement=0.9, drop_flagged=False))
        assert kept.pair_count == 1 and kept.counts["votes_dropped_ties"] == 2
        strict = SnapshotFilters(min_agreement=0.9, drop_ties=False, drop_flagged=False)
        assert snapshot_create(project=project, filters=strict).pair_count == 0

    def test_it_drops_the_votes_of_flaggedmake_annotators(self, project: Project) -> None:
        hasty = _one_hasty_vote_against_a_careful_one(project)
        snapshot = snapshot_create(project=project, filters=SnapshotFilters(min_agreement=0.6, flagged_votes="drop"))
        assert snapshot.counts["flagged_annotators"] == [hasty.username]
        assert snapshot.counts["votes_dropped_flagged"] == 1
        pair = snapshot.pairs.get()
        assert pair.chosen_is_a and pair.votes == 1

    def test_it_down_weights_flagged_annotators_by_default_instead_of_dropping_them(self, project: Project) -> None:
        hasty = _one_hasty_vote_against_a_careful_one(project)
        snapshot = snapshot_create(project=project, filters=SnapshotFilters(min_agreement=0.6))
        assert snapshot.filters["flagged_votes"] == "downweight"
        assert snapshot.counts["flagged_annotators"] == [hasty.username]
        assert snapshot.counts["votes_dropped_flagged"] == 0 and snapshot.counts["votes_downweighted"] == 1
        pair = snapshot.pairs.get()
        # Both votes count, the hasty one at half weight: "a" wins with 1 / 1.5 of the weight.
        assert pair.chosen_is_a and pair.votes == 2
        assert pair.agreement == pytest.approx(2 / 3)

    def test_it_can_aggregate_with_dawid_skene(self, project: Project) -> None:
        users = make_annotators(project, 3)
        rows = [["a", "a", "b"], ["b", "b", "a"], ["a", "a", "a"], ["b", "b", "b"]] * 3
        make_voted_pairs(project, users, rows)
        filters = SnapshotFilters(method="dawid_skene", min_posterior=0.5, min_agreement=0.0, drop_flagged=False)
        snapshot = snapshot_create(project=project, filters=filters)
        pairs = list(snapshot.pairs.order_by("comparison_id"))
        assert len(pairs) == 12
        assert [p.chosen_is_a for p in pairs] == [r[0] == "a" for r in rows]
        assert all(0.5 <= p.posterior <= 1.0 for p in pairs)
        assert snapshot.method == "dawid_skene"

    def test_it_excludes_gold_items(self, project: Project) -> None:
        users = make_annotators(project, 1)
        make_voted_pairs(project, users, [["a"]], is_gold=True, gold_answer="a")
        assert snapshot_create(project=project, filters=LENIENT).pair_count == 0

    def test_it_drops_prompts_that_share_a_long_ngram_with_the_benchmark(self, project: Project, tmp_path: Path) -> None:
        users = make_annotators(project, 1)
        leaked = "Natalia sold clips to 48 of her friends in April and then she sold half as many in May today"
        make_voted_pairs(project, users, [["a"]], prompt=f"Please solve: {leaked.upper()}")
        clean = make_voted_pairs(project, users, [["a"]], prompt="Natalia sold clips to 48 of her friends")[0]
        benchmark = tmp_path / "gsm8k.txt"
        benchmark.write_text(f"unrelated line\n{leaked} How many?\n")
        snapshot = snapshot_create(project=project, filters=LENIENT, benchmark_path=benchmark)
        assert list(snapshot.pairs.values_list("comparison_id", flat=True)) == [clean.pk]
        assert snapshot.decontamination["dropped"] == 1
        assert snapshot.decontamination["ngram"] == 13 and snapshot.decontamination["lines"] == 2
        assert snapshot.counts["decontaminated"] == 1

    def test_its_portable_writer_matches_the_postgresql_one(self, project: Project) -> None:
        users = make_annotators(project, 2)
        make_voted_pairs(project, users, [["a", "a"], ["b", "a"], ["b", "b"]])
        make_comparison(project, prompt=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])
        fast = snapshot_create(project=project, filters=LENIENT)
        selection = pair_selection(project=project, filters=LENIENT)
        portable = Snapshot.objects.create(project=project, version=99, method="majority", content_hash="x")
        snapshot_services._write_pairs_portable(portable, selection, 0, selection.pair_count)
        fields = ("comparison_id", "chosen_is_a", "prompt", "chosen", "rejected", "margin", "agreement", "votes")
        assert list(portable.pairs.order_by("id").values_list(*fields)) == list(
            fast.pairs.order_by("id").values_list(*fields)
        )



class SnapshotUnpairedTests:
    """keep_unpaired: both-bad and tie comparisons kept as rows of their kind of vote, for the unpaired export."""

    def test_it_keeps_both_bad_and_tie_comparisons_as_rows_of_their_kind(self, project: Project) -> None:
        snapshot = unpaired_snapshot(project)
        rows = list(snapshot.pairs.order_by("id").values_list("vote_kind", "chosen", "rejected", "chosen_is_a"))
        assert rows == [
            ("preference", "4", "5", True),
            ("both_bad", "Seven.", "Purple-ish?", True),
            ("tie", "Hi!", "Hello!", True),
        ]
        assert (snapshot.counts["pairs"], snapshot.counts["kept_both_bad"], snapshot.counts["kept_tie"]) == (1, 1, 1)
        assert snapshot.counts["tie_or_both_bad"] == 0
        assert snapshot.pair_count == 3
        assert snapshot.filters["keep_unpaired"] is True

    def test_without_it_the_same_votes_give_only_the_pair_and_the_same_hash(self, project: Project) -> None:
        filters = SnapshotFilters(min_votes=1, min_agreement=0.0, drop_flagged=False, drop_ties=False)
        plain = unpaired_snapshot(project, filters)
        assert list(plain.pairs.values_list("vote_kind", flat=True)) == ["preference"]
        assert (plain.counts["tie_or_both_bad"], plain.counts["kept_both_bad"], plain.counts["kept_tie"]) == (2, 0, 0)
        # A preference row hashes as it did before the option existed (no kind of vote in its line) ...
        pair = Comparison.objects.get(pk=plain.pairs.get().comparison_id)
        line = f"{pair.pk}\t{pair.response_a_id}\t{pair.response_b_id}\t2.000000\t1.000000\t2\n"
        assert plain.content_hash == hashlib.sha256(line.encode()).hexdigest()
        # ... and the kept rows change the hash.
        assert snapshot_create(project=project, filters=UNPAIRED).content_hash != plain.content_hash

    def test_its_portable_writer_marks_the_kinds_as_the_postgresql_one(self, project: Project) -> None:
        fast = unpaired_snapshot(project)
        selection = pair_selection(project=project, filters=UNPAIRED)
        portable = Snapshot.objects.create(project=project, version=99, method="majority", content_hash="x")
        snapshot_services._write_pairs_portable(portable, selection, 0, selection.pair_count)
        fields = ("comparison_id", "vote_kind", "chosen_is_a", "chosen", "rejected", "agreement", "votes")
        assert list(portable.pairs.order_by("id").values_list(*fields)) == list(
            fast.pairs.order_by("id").values_list(*fields)
        )

    def test_it_refuses_keep_unpaired_while_tie_votes_are_dropped(self) -> None:
        with pytest.raises(ValueError, match="keep_unpaired needs tie and both-bad votes counted"):
            SnapshotFilters(keep_unpaired=True)


class BenchmarkIndexTests:
    def test_it_lowercases_and_splits_on_whitespace(self, tmp_path: Path) -> None:
        path = tmp_path / "bench.txt"
        path.write_text("The  quick\tbrown FOX\n")
        index = benchmark_index_build(path=path, ngram=3)
        assert index.contaminates("so the quick brown")
        assert index.contaminates("QUICK BROWN fox")
        assert not index.contaminates("quick brown, fox")
