from __future__ import annotations

import re

import numpy as np
import pytest

from annotate import charts

pytestmark = pytest.mark.django_db


class ChartTests:
    def test_a_line_chart_has_one_point_per_day(self) -> None:
        svg = charts.line_chart(
            title="t", x_labels=["d1", "d2", "d3"], series=[("agreement", [0.5, 0.7, 0.9])]
        )
        path = re.search(r'<path class="series"[^>]* d="([^"]+)"', svg)
        assert path is not None and len(re.findall(r"[ML]", path.group(1))) == 3
        assert svg.count('class="point"') == 3

    def test_a_bar_chart_has_one_bar_per_label_and_escapes_names(self) -> None:
        svg = charts.bar_chart(title="t", labels=["<b>", "ann"], values=[0.5, 0.9], threshold=0.6)
        assert svg.count('class="bar-value"') == 2
        assert "<b>" not in svg and "&lt;b&gt;" in svg
        assert 'class="threshold"' in svg

    def test_an_interval_chart_has_a_whisker_per_known_interval_from_low_to_high(self) -> None:
        svg = charts.interval_chart(
            title="t",
            x_labels=["R1", "R2"],
            series=[("rm", [(0.7, 0.5, 0.9), (None, None, None)]), ("<people>", [(0.6, None, None), (0.5, 0.1, 0.9)])],
        )
        assert svg.count('class="point"') == 3 and svg.count('class="interval"') == 2
        # The whisker spans low to high: y = top + plot_h * (1 - v) with top 16 and plot_h 188.
        whisker = re.search(r'class="interval" x1="[^"]+" x2="[^"]+" y1="([^"]+)" y2="([^"]+)"', svg)
        assert whisker is not None and (float(whisker.group(1)), float(whisker.group(2))) == (110.0, 34.8)
        assert "<people>" not in svg and "&lt;people&gt;" in svg and 'class="threshold"' in svg

    def test_a_heatmap_has_sixteen_cells(self) -> None:
        svg = charts.heatmap(title="t", matrix=np.eye(4).tolist(), labels=["a", "b", "tie", "both_bad"])
        assert svg.count('class="cell"') == 16

    @pytest.mark.parametrize("kind", ["heatmap", "line", "bar"])
    def test_chart_text_is_drawn_at_its_own_size_not_scaled_to_the_page(self, kind: str) -> None:
        labels = ["a", "b", "tie", "both_bad"]
        svg = {
            "heatmap": lambda: charts.heatmap(title="t", matrix=np.eye(4).tolist(), labels=labels),
            "line": lambda: charts.line_chart(title="t", x_labels=["d1"], series=[("s", [0.5])]),
            "bar": lambda: charts.bar_chart(title="t", labels=labels, values=[0.5] * 4),
        }[kind]()
        view = re.search(r'viewBox="0 0 (\d+) (\d+)" width="(\d+)" height="(\d+)"', svg)
        # One user unit per CSS pixel (the stylesheet may only shrink it): text is font-size px.
        assert view is not None and view.group(1) == view.group(3) and view.group(2) == view.group(4)
        sizes = {int(size) for size in re.findall(r'font-size="(\d+)"', svg)}
        assert sizes == {charts.FONT_SIZE} and charts.FONT_SIZE < 15  # body text is 15 px

    def test_a_heatmap_shows_a_dash_for_an_unknown_cell(self) -> None:
        matrix = np.eye(4).tolist()
        matrix[2][2] = float("nan")
        svg = charts.heatmap(title="t", matrix=matrix, labels=["a", "b", "tie", "both_bad"])
        assert "nan" not in svg and svg.count(">—</text>") == 1
