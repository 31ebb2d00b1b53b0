"""The metric registry: consistent with itself and the model, and one entry per metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import metrics
from sim.catalog import BASELINE
from sim.metrics import (
    INDEX_COLUMNS,
    METRICS,
    REGISTRY,
    SUMMARIES,
    column_title,
    derived,
    metrics_needed,
    raw_metrics,
    run_columns,
    summarize,
    summary,
    summary_metrics,
)
from sim.model.model import BalanceModel
from sim.model.run import run_model
from sim.schema.scenario import load_scenario

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_replications.csv"


@pytest.fixture(scope="module")
def short_run():
    return run_model(load_scenario(BASELINE).model_copy(update={"steps": 8}), 3)


def test_every_metric_is_declared_once_with_words_and_a_way_to_compute_it():
    per_step = [m.name for m in METRICS if m.kind != "summary"]
    assert len(per_step) == len(set(per_step)) == len(REGISTRY)
    assert len(SUMMARIES) == len(METRICS) - len(per_step)
    assert not set(REGISTRY) & set(INDEX_COLUMNS)
    seen: set[str] = set()
    for m in METRICS:
        assert m.label.strip() and m.label == m.label.strip(), m.name
        if m.kind == "raw":
            assert m.derive is None and not m.needs and m.how is None
        elif m.kind == "derived":
            assert m.derive is not None and m.needs and m.how is None
            # needs exist and come earlier (run_columns derives in registry order)
            assert all(need in seen for need in m.needs), m.name
        else:
            assert m.how in ("mean", "sum", "last", "max", "nonzero"), m.name
            base = m.of.split(".", 1)[0]
            assert m.needs == (base,) and base in REGISTRY, m.name
            assert REGISTRY[base].by == "step" or "." in m.of, m.name
        if m.kind != "summary":
            seen.add(m.name)


def test_every_raw_metric_is_a_model_attribute_after_one_step():
    model = BalanceModel(load_scenario(BASELINE))
    model.step()
    for name in raw_metrics():
        value = np.asarray(getattr(model, name), dtype=float)
        expected = {"step": 0, "partner": 1, "commodity": 1}[REGISTRY[name].by]
        assert value.ndim == expected, name
    assert set(model.datacollector.model_vars) == set(raw_metrics())


def test_every_per_step_column_and_summary_comes_out_of_a_run(short_run):
    columns = run_columns(short_run)
    bases = {c.split(".", 1)[0] for c in columns} - set(INDEX_COLUMNS)
    assert bases == set(REGISTRY)
    for column in columns:
        if column not in INDEX_COLUMNS:
            assert column_title(column)
    values = summarize(columns)
    assert list(values) == list(summary_metrics())
    assert all(np.isfinite(v) for v in values.values())


def test_summary_order_is_the_golden_tables_column_order():
    """replications.csv and a sweep's runs table keep their columns and order."""
    golden = pd.read_csv(GOLDEN, nrows=1)
    assert list(golden.columns[3:]) == list(summary_metrics())


def test_titles_read_like_the_band_plots_did():
    assert column_title("export_share.china") == "China's share of exports"
    assert column_title("fdi_share.china") == "China's share of the FDI stock"
    assert column_title("third_neighbour_export_share") == "Third neighbours' share of exports"
    assert (
        column_title("export_revenue_bn_usd") == "Export revenue (bn USD per quarter, 2018 prices)"
    )
    assert column_title("autonomy") == "Autonomy index"


def test_needs_resolve_to_raw_metrics_and_unknown_columns_fail():
    assert metrics_needed(["autonomy"]) == ("autonomy",)
    assert metrics_needed(["cap_breaches"]) == (
        "cap_level",
        "cap_on_stock",
        "fdi_share",
        "fdi_inflow_share",
    )
    assert metrics_needed(["leverage_china", "step"]) == ("effective_leverage",)
    with pytest.raises(KeyError, match="unknown"):
        metrics_needed(["autonomyy"])


def test_a_new_metric_is_one_entry_and_appears_everywhere(monkeypatch, tmp_path, short_run):
    """One derived metric and one summary of it, added to the registry only: the run
    table, the summaries, the per-step table and a sweep's allowed outputs all see them."""
    from sim.cli.report import format_summary
    from sim.experiments.spec import load_sweep

    fdi_top2 = derived(
        "fdi_top_two_share",
        "two largest origins' share of the FDI stock",
        ("fdi_share",),
        lambda a, s: np.sort(a["fdi_share"], axis=1)[:, -2:].sum(axis=1),
    )
    top2_mean = summary(
        "fdi_top_two_share_mean",
        "two largest origins' share of FDI (mean)",
        "fdi_top_two_share",
        "mean",
    )
    monkeypatch.setitem(metrics.REGISTRY, fdi_top2.name, fdi_top2)
    monkeypatch.setitem(metrics.SUMMARIES, top2_mean.name, top2_mean)

    columns = run_columns(short_run)
    assert "fdi_top_two_share" in columns
    values = summarize(columns)
    assert list(values)[-1] == "fdi_top_two_share_mean" and 0 < values[top2_mean.name] <= 1
    assert "two largest origins' share of FDI (mean)" in format_summary(values, "t")
    assert metrics_needed(["fdi_top_two_share"]) == ("fdi_share",)

    sweep = tmp_path / "s.toml"
    sweep.write_text(
        f'name = "s"\nbase = "{BASELINE.as_posix()}"\noverrides = ["steps=4"]\n'
        'seed = 1\n[sampler]\nmethod = "random"\nsamples = 2\n'
        '[parameters."alignment.level"]\nmin = 0.1\nmax = 0.9\n'
        '[outputs]\nsummary = ["fdi_top_two_share_mean"]\nseries = ["fdi_top_two_share"]\n',
        encoding="utf-8",
    )
    spec = load_sweep(sweep)
    assert spec.summary == ["fdi_top_two_share_mean"]
    assert spec.series == ["fdi_top_two_share"]


# --- names and labels live in the registry only (issue 10) -------------------------------


def test_the_model_checks_registry_metrics_and_names_them_by_their_titles(baseline):
    import math
    import warnings

    from sim.model.model import NonFiniteError

    assert set(BalanceModel.FINITE) <= set(raw_metrics())
    model = BalanceModel(baseline, rng=1)
    model.fdi_stock[model.CHINA] = math.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(NonFiniteError) as caught:
            model.step()
    assert column_title("fdi_stock_bn_usd") in str(caught.value)


@pytest.mark.slow
def test_band_plots_are_chosen_by_the_registry_with_the_same_file_names(tmp_path, short_run):
    from sim.cli.report import write_band_plots

    assert metrics.band_plots() == {
        "export_share_china.png": "export_share.china",
        "third_neighbour_export_share.png": "third_neighbour_export_share",
        "fdi_share_china.png": "fdi_share.china",
        "export_revenue.png": "export_revenue_bn_usd",
        "pressure_cost.png": "pressure_cost_bn_usd",
        "autonomy.png": "autonomy",
    }
    frame = metrics.model_frame(short_run)
    write_band_plots(tmp_path, {"a": [frame, frame]})
    assert {p.name for p in tmp_path.iterdir()} == set(metrics.band_plots())


def test_figure_and_page_labels_follow_the_registry(monkeypatch, short_run):
    """Relabel metrics in the registry: the report's figures and the page's charts and
    event log show the new words (no label of theirs is typed in by hand)."""
    import dataclasses

    from sim.app import CHARTS, DashboardModel, event_log_html, snapshot
    from sim.cli.plots import run_figures

    for name in ("autonomy", "concessions", "active_pressure", "export_share", "fdi_share"):
        new = dataclasses.replace(REGISTRY[name], label=f"zz {name}")
        monkeypatch.setitem(REGISTRY, name, new)
    frame = metrics.model_frame(short_run)
    texts = set()
    for fig in run_figures(frame, [], []).values():
        for ax in fig.axes:
            texts |= {ax.get_title(), ax.get_ylabel()}
            texts |= {str(line.get_label()) for line in ax.get_legend().get_texts()}
    model = DashboardModel(str(BASELINE))
    model.step()
    snap = snapshot(model)
    for chart in CHARTS:
        fig = chart(snap)
        for ax in fig.axes:
            texts |= {ax.get_title(loc="left"), ax.get_ylabel()}
            texts |= {str(h.get_label()) for h in ax.get_legend_handles_labels()[0]}
    words = " | ".join(texts)
    for name in ("autonomy", "concessions", "active_pressure", "export_share", "fdi_share"):
        assert f"zz {name}" in words.lower(), name
    for stale in ("episodes under way", "concessions so far", "Export shares", "Autonomy:"):
        assert not any(t.startswith(stale) for t in texts), stale
    log = event_log_html(snap)
    assert "zz concessions" in log and "zz active_pressure" in log and "Zz autonomy" in log
