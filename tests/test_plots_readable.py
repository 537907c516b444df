"""Figures that cannot mislead: empty panels left out and named, no bar on a single run, intervals
clipped to what a metric can take, rates in percent, one colour per method in every figure,
labels that do not overlap, hot units that stay visible, and "dead" said precisely."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # tests only: src must not pick a backend (test_style)

import matplotlib.colors
import matplotlib.text
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from unlearnlab.plots import arithmetic, concept, localize, marks, private, sae, style, targeted

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _hex(value) -> str:
    return matplotlib.colors.to_hex(value, keep_alpha=False)


def _bar_error_segments(ax) -> list[np.ndarray]:
    """Every drawn error-bar segment (the vertical lines of ``bar(yerr=...)``/``errorbar``)."""
    return [seg for coll in ax.collections if isinstance(coll, matplotlib.collections.LineCollection)
            for seg in coll.get_segments() if len(seg)]


def _text_box(text, renderer):
    """A label's own box (an annotation's extent would include its leader line)."""
    return matplotlib.text.Text.get_window_extent(text, renderer)


def _concept_table() -> pd.DataFrame:
    variants = ["base", "lora", "GradDiff"]
    return pd.DataFrame({
        "variant": variants, "n": [1, 3, 3],
        "adversarial_leak_mean": [0.0, 0.0, 0.0], "adversarial_leak_ci": [0.0, 0.0, 0.0],
        "neighbour_retained_mean": [1.0, 0.9, 0.3], "neighbour_retained_ci": [0.0, 0.4, 0.5],
        "direct_keylogp_mean": [-3.0, -3.2, -0.5], "direct_keylogp_ci": [0.0, 0.1, 0.9],
    })


PANELS = {"adversarial_leak": "names it", "neighbour_retained": "neighbours kept", "direct_keylogp": "key log-p"}


def test_a_metric_zero_for_every_variant_is_left_out_and_named():
    fig = concept.variant_bars(_concept_table(), PANELS, ncols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.axison]
    assert titles == ["neighbours kept", "key log-p"]
    notes = " ".join(t.get_text() for t in fig.texts)
    assert "names it" in notes and "0 for every variant" in notes


def test_informative_keeps_a_metric_nonzero_for_one_variant_only():
    table = _concept_table().assign(adversarial_leak_mean=[0.0, 0.0, 0.1])
    assert marks.informative(table, list(PANELS)) == (list(PANELS), [])


def test_rates_are_drawn_in_percent_and_clipped_to_100_and_0():
    fig = concept.variant_bars(_concept_table(), PANELS, ncols=3)
    rate = next(ax for ax in fig.axes if ax.get_title() == "neighbours kept")
    assert [round(p.get_height(), 6) for p in rate.patches] == [100.0, 90.0, 30.0]
    tops = [seg[:, 1].max() for seg in _bar_error_segments(rate)]
    bottoms = [seg[:, 1].min() for seg in _bar_error_segments(rate)]
    assert max(tops) <= 100.0 + 1e-9 and min(bottoms) >= 0.0
    assert rate.get_ylim()[1] <= 103.0
    logp = next(ax for ax in fig.axes if ax.get_title() == "key log-p")  # a log-prob is ≤ 0
    assert max(seg[:, 1].max() for seg in _bar_error_segments(logp)) <= 0.0


def test_a_single_run_has_no_error_bar_and_says_n_equals_1():
    fig = concept.variant_bars(_concept_table(), PANELS, ncols=3)
    ax = next(ax for ax in fig.axes if ax.get_title() == "neighbours kept")
    assert len(_bar_error_segments(ax)) == 2  # lora and GradDiff; the base (n = 1) has none
    assert ax.get_xticklabels()[0].get_text() == "base (n = 1)"


def test_error_bars_clip_and_blank_single_runs():
    err = marks.error_bars([5.0, 50.0, 98.0, 40.0], [20.0, 10.0, 10.0, 0.0], n=[3, 3, 3, 1], low=0.0, high=100.0)
    assert err[:, 0].tolist() == [5.0, 20.0]  # not below 0
    assert err[:, 1].tolist() == [10.0, 10.0]
    assert err[:, 2].tolist() == [10.0, 2.0]  # not above 100
    assert np.isnan(err[:, 3]).all()  # one run: no interval, not a zero-width one


def _private_frame(seeds: int) -> pd.DataFrame:
    rows = []
    for seed in range(seeds):
        for method, acc in (("base", 1.0), ("oracle", 0.0), ("GradDiff", 0.25), ("NPO", 0.4)):
            rows.append({"method": method, "seed": seed, "ratio": 0.2, "forget_qa_acc": acc + 0.05 * seed,
                         "retain_qa_acc": 0.7, "auc_min_k": 0.4, "others_after": 0.3})
    return pd.DataFrame(rows)


def test_private_real_tier_with_one_seed_draws_no_interval():
    fig = private.real_tier_bars(_private_frame(1), "min_k")
    for ax in fig.axes:
        assert _bar_error_segments(ax) == []
        assert all(t.get_text().endswith("(n = 1)") for t in ax.get_xticklabels())


def test_private_real_tier_with_seeds_draws_clipped_intervals():
    fig = private.real_tier_bars(_private_frame(3), "min_k")
    segments = _bar_error_segments(fig.axes[0])
    assert len(segments) == 2 and all(seg[:, 1].min() >= 0.0 for seg in segments)


def _frontier(steps: list[float], recovered: list[bool]) -> pd.DataFrame:
    rows = []
    for i, (label, src) in enumerate((("fisher 5%", "fisher"), ("random 5%", "random"), ("semi_nmf 20%", "semi_nmf"),
                                      ("attribution 20%", "attribution"), ("weight_diff 20%", "weight_diff"))):
        for seed in range(3):
            rows.append({"family": "Targeted-UNDO", "label": label, "mask_source": src, "seed": seed,
                         "recovered": recovered[i], "steps_to_recover": steps[i] + (40 * seed if i == 1 else 0)
                         if recovered[i] else np.nan, "distill_steps": 400.0,
                         "post_attack_forget_acc": 0.05 + 0.01 * seed})
    return pd.DataFrame(rows)


def _curve() -> pd.DataFrame:
    return pd.DataFrame([{"label": "UNDO α=0.3", "alpha": 0.3, "seed": s, "distill_steps": d,
                          "post_attack_forget_acc": 0.3} for s in range(3) for d in (50, 150, 400)])


def test_targeted_labels_do_not_overlap_even_at_one_point():
    fig = targeted.frontier(_frontier([400] * 5, [False] * 5), _curve(), 0.04, 400)
    ax = fig.axes[0]
    fig.canvas.draw()  # positions annotations
    renderer = fig.canvas.get_renderer()
    boxes = [_text_box(t, renderer) for t in ax.texts if t.get_text().split(" ")[0] in style.COLORS]
    assert len(boxes) == 5
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_targeted_step_intervals_stop_at_zero_and_unrecovered_runs_have_none():
    fig = targeted.frontier(_frontier([10, 20, 400, 400, 400], [True, True, False, False, False]), _curve(), 0.04, 400)
    ax = fig.axes[0]
    xs = [seg[:, 0] for seg in _bar_error_segments(ax) if seg[0, 1] == seg[1, 1]]  # horizontal: step bars
    assert xs and min(x.min() for x in xs) >= 0.0
    assert all(x.max() < 400 for x in xs)  # no step bar on the unrecovered points at the budget


def test_a_method_has_one_colour_in_two_figures():
    bars = concept.variant_bars(_concept_table(), PANELS, ncols=3)
    bar_colour = _hex(next(ax for ax in bars.axes if ax.get_title() == "neighbours kept").patches[2].get_facecolor())
    sweeps = pd.DataFrame({"kind": ["topk"], "intervention": ["clamp"], "side_acc": [0.9], "forget_acc": [0.5]})
    baselines = pd.DataFrame({"method": ["GradDiff"], "side_acc": [0.8], "forget_acc": [0.3]})
    scatter = sae.tradeoff(sweeps, baselines)
    handles, labels = scatter.axes[0].get_legend_handles_labels()
    scatter_colour = _hex(handles[labels.index("GradDiff")].get_facecolor()[0])
    assert bar_colour == scatter_colour == _hex(style.color("GradDiff"))


def test_sae_scores_are_in_percent_like_the_tables():
    table = pd.DataFrame({"variant": ["SAE-topk kl clamp | retain text", "GradDiff"], "n": [3, 1],
                          "score_mean": [0.05, 0.07], "score_ci": [0.2, 0.0]})
    fig = sae.score_bars(table)
    ax = fig.axes[0]
    assert [round(p.get_width(), 6) for p in ax.patches] == [5.0, 7.0]
    assert "%" in ax.get_xlabel() and ax.get_xlim()[0] == 0.0
    assert [t.get_text() for t in ax.get_yticklabels()][1] == "GradDiff (n = 1)"
    assert min(seg[:, 0].min() for seg in _bar_error_segments(ax)) >= 0.0  # the CI of 5 ± 20 stops at 0


def test_dead_in_training_is_labelled_as_not_the_quality_tables_dead():
    curves = pd.DataFrame([{"kind": k, "seed": 0, "step": s, "mse": 1.0 / (s + 1), "dead_fraction": 0.01 * s}
                           for k in ("relu", "topk") for s in range(3)])
    fig = sae.training_curves(curves)
    ax = fig.axes[1]
    words = (ax.get_ylabel() + " " + ax.get_title()).lower()
    assert "training" in words and "held-out" in words and "%" in ax.get_ylabel()
    assert max(max(line.get_ydata()) for line in ax.get_lines()) == pytest.approx(2.0)  # percent, not 0.02


def test_a_hot_neuron_survives_pooling_and_stays_the_colour_maximum():
    grid = torch.zeros(4, 1536)
    grid[2, 777] = -9.0
    pooled, k = localize._pooled(grid)
    assert k > 1 and pooled.shape[1] <= localize.MAX_COLUMNS
    assert float(pooled.min()) == -9.0 and int((pooled != 0).sum()) == 1
    small, k_small = localize._pooled(torch.ones(3, 256))
    assert k_small == 1 and small.shape == (3, 256)


def test_retain_forget_scatter_hollows_an_unrecovered_run_and_separates_labels():
    rows = pd.DataFrame([{"label": label, "forget_acc": f, "retain_acc": r}
                         for label, f, r in (("oracle", 0.01, 1.0), ("RMU", 0.0, 1.0), ("MaxEnt", 0.0, 0.97),
                                             ("UNDO α=0.6 (not recovered)", 0.01, 0.03), ("Distill (α=1)", 0.0, 0.0))])
    fig = arithmetic.retain_forget_scatter(rows)
    ax = fig.axes[0]
    handles, labels = ax.get_legend_handles_labels()
    hollow = handles[labels.index("UNDO α=0.6 (not recovered)")]
    assert _hex(hollow.get_facecolor()[0]) == "#ffffff"
    assert _hex(hollow.get_edgecolor()[0]) == _hex(style.color("UNDO α=0.6"))
    fig.canvas.draw()  # positions annotations
    renderer = fig.canvas.get_renderer()
    boxes = [_text_box(t, renderer) for t in ax.texts]
    assert len(boxes) == 5 and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_a_zero_bar_is_labelled_zero_and_a_nonzero_one_is_not():
    import matplotlib.pyplot as plt

    from unlearnlab.plots import marks

    fig, ax = plt.subplots()
    ax.bar([0, 1, 2], [0.0, 40.0, float("nan")])
    marks.mark_zero_bars(ax, [0, 1, 2], [0.0, 40.0, float("nan")])
    assert [t.get_text() for t in ax.texts] == ["0"] and ax.texts[0].xy == (0, 0)
    plt.close(fig)
