from __future__ import annotations

import pytest

from annotate.models import Comparison, Project, Prompt, Response, ResponseSource
from annotate.services.content import NewComparison, NewPrompt, NewResponse, content_write
from tests.factories import make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project() -> Project:
    return make_project()


class ContentWriteTests:
    def test_it_writes_a_candidate_pair_with_its_prompt_and_responses(self, project: Project) -> None:
        written = content_write(
            project=project,
            comparisons=[NewComparison(prompt="Why?", response_a="Because.", response_b="No.", priority=5, batch="r1")],
        )
        comparison = Comparison.objects.get()
        assert (comparison.prompt.content, comparison.response_a.text, comparison.response_b.text) == (
            "Why?",
            "Because.",
            "No.",
        )
        assert (comparison.priority, comparison.batch, comparison.project_id) == (5, "r1", project.pk)
        assert written.pairs == [(comparison.response_a_id, comparison.response_b_id)]
        assert len(written.new_prompts) == 1 and len(written.new_responses) == 2 and not written.old_comparisons

    def test_it_adds_nothing_for_content_already_there_in_either_order(self, project: Project) -> None:
        content_write(project=project, comparisons=[NewComparison(prompt="Why?", response_a="A", response_b="B")])
        again = content_write(
            project=project,
            prompts=[NewPrompt(content=[{"role": "user", "content": "Why?"}])],
            responses=[NewResponse(prompt="Why?", text="A")],
            comparisons=[NewComparison(prompt="Why?", response_a="B", response_b="A")],
        )
        assert (Prompt.objects.count(), Response.objects.count(), Comparison.objects.count()) == (1, 2, 1)
        assert not again.new_prompts and not again.new_responses
        stored = Comparison.objects.get()
        assert again.comparisons[frozenset(again.pairs[0])] == (stored.pk, stored.response_a_id)
        assert again.old_comparisons == {frozenset(again.pairs[0])}

    def test_it_stores_a_generated_response_with_its_model_and_metadata(self, project: Project) -> None:
        from alignment.models import ModelVersion, VersionKind

        version = ModelVersion.objects.create(project=project, kind=VersionKind.POLICY, number=3, path="p/3")
        content_write(
            project=project,
            responses=[
                NewResponse(
                    prompt="Hi", text="Hello", model_version_id=version.pk, metadata={"score": 1.5},
                    source=ResponseSource.MODEL,
                )
            ],
        )  # fmt: skip
        response = Response.objects.get()
        assert (response.source, response.model_version, response.metadata) == (
            ResponseSource.MODEL,
            version,
            {"score": 1.5},
        )
