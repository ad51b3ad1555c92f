"""The report's SVG charts: round ticks, whole epochs, titles that fit, a labelled colour scale (no browser)."""

from __future__ import annotations

import re

from autosearch.views import svg


def test_ticks_are_round_values_inside_the_range():
    assert svg.ticks(0.8912, 0.9467) == [0.9, 0.92, 0.94]
    assert svg.ticks(0, 100) == [0, 20, 40, 60, 80, 100]


def test_integer_axes_tick_only_whole_numbers():
    assert svg.ticks(1, 2, integer=True) == [1, 2]
    assert svg.ticks(1, 3, integer=True) == [1, 2, 3]
    assert svg.ticks(0.5, 1.5, integer=True) == [1]  # a single epoch


def test_tick_labels_carry_only_the_decimals_the_step_needs():
    fmt = svg.tick_formatter([0.9, 0.92, 0.94])
    assert [fmt(v) for v in (0.9, 0.92)] == ["0.90", "0.92"]
    pct = svg.tick_formatter([0.9, 0.92], percent=True)
    assert pct(0.92) == "92%"


def test_epoch_axis_of_a_chart_is_labelled_with_whole_numbers():
    chart = svg.Chart("Learning curves: loss", "epoch", "loss", [1, 2, 3], [0.5, 0.4, 0.3], x_kind="integer")
    chart.line([1, 2, 3], [0.5, 0.4, 0.3], "#000", "trial 0")
    html = chart.render()
    x_labels = re.findall(r'y="(\d+)" text-anchor="middle">([^<]+)<', html)
    assert [t for y, t in x_labels if int(y) == svg.H - svg.PAD + 16] == ["1", "2", "3"]


def test_time_axes_tick_whole_hours_or_days():
    start = 1796000000.0
    marks = svg.time_ticks(start, start + 5 * 86400)
    assert marks and all(m % 86400 == 0 for m in marks)
    assert svg.time_label(86400 * 3) == "01-04 00:00"


def test_a_narrow_chart_widens_to_fit_its_title():
    title = "Confusion matrix on test (accuracy 90.35%)"
    html = svg.heatmap(title, [[36, 6], [5, 67]], ["malignant", "benign"], ["malignant", "benign"], "p", "t")
    width = int(re.search(r'viewBox="0 0 (\d+) ', html).group(1))
    assert width >= len(title) * svg.TITLE_PX  # 2 classes used to leave 206 px for it


def test_parallel_coordinates_label_every_choice_and_draw_a_colour_scale():
    units = svg.numeric_axis("units", [32, 64, 32], integer=True, choices=True)
    assert [t for _, t in units.ticks] == ["32", "64"]
    score = svg.numeric_axis("validation accuracy", [0.91, 0.95, 0.93], percent=True)
    html = svg.parallel_coordinates("Hyperparameters", [units, score], ["a", "b", "c"], [0.0, 1.0, 0.5], score)
    assert html.count('class="colour-scale"') == 1 and 'linearGradient id="goodness"' in html
    assert all(f">{t}<" in html for _, t in score.ticks) and len(score.ticks) >= 2
    assert svg.color_at(0) != svg.color_at(1)
