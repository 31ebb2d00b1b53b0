"""Replications (seeds independent of workers, means and bands), compare and list."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from sim.cli.main import main
from sim.cli.report import format_comparison
from sim.experiments.compare import compare
from sim.experiments.replicate import replicate
from sim.experiments.seeds import run_seed
from sim.metrics import summary_label
from sim.schema.scenario import load_scenario
from tests.conftest import ROOT, write

BASELINE = ROOT / "scenarios" / "baseline.toml"
STRICT = ROOT / "scenarios" / "whatif" / "strict_cap.toml"


@pytest.fixture(scope="module")
def short_baseline():
    return load_scenario(BASELINE, ["steps=24"])


@pytest.mark.slow
def test_replications_do_not_depend_on_workers_or_chunks(short_baseline):
    serial = replicate(short_baseline, 5, workers=1, progress=False)
    parallel = replicate(short_baseline, 5, workers=2, progress=False, min_chunk_steps=1)
    assert serial.seeds == parallel.seeds == [run_seed(short_baseline.seed, i) for i in range(5)]
    pd.testing.assert_frame_equal(serial.summaries(), parallel.summaries())
    for a, b in zip(serial.frames, parallel.frames, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert [r.events for r in serial.runs] == [r.events for r in parallel.runs]
    assert {r.process for r in serial.runs} == {os.getpid()}
    assert os.getpid() not in {r.process for r in parallel.runs}
    more = replicate(
        short_baseline, 7, workers=2, progress=False, min_chunk_steps=30
    )  # other chunks; the first 5 unchanged
    pd.testing.assert_frame_equal(more.summaries().head(5), serial.summaries())


def test_bands_are_central_90_percent(short_baseline):
    reps = replicate(short_baseline, 6, workers=1, progress=False)
    values = reps.summaries()["autonomy_mean"].to_numpy()
    band = reps.summary_bands()["autonomy_mean"]
    assert band["mean"] == pytest.approx(values.mean())
    assert band["p05"] == pytest.approx(np.quantile(values, 0.05))
    assert band["p95"] == pytest.approx(np.quantile(values, 0.95))
    assert values.min() <= band["p05"] <= band["mean"] <= band["p95"] <= values.max()
    steps = reps.step_bands()
    col = np.stack([f["export_share.china"].to_numpy() for f in reps.frames])
    assert np.allclose(steps["export_share.china.mean"], col.mean(axis=0))
    assert (steps["export_share.china.p05"] <= steps["export_share.china.p95"]).all()


def test_compare_with_itself_overlaps_everywhere(short_baseline):
    reps = replicate(short_baseline, 3, workers=1, progress=False)
    table = compare(reps, reps)
    assert table["bands_overlap"].all() and (table["difference"] == 0).all()
    assert not table["different"].any()


def test_a_zero_difference_is_never_called_different(short_baseline):
    """Issue 11: +0.000 was marked "overlap NO" when both bands were a single point."""
    a = replicate(short_baseline, 4, workers=1, progress=False)
    b = replicate(short_baseline, 4, workers=1, progress=False)
    for reps in (a, b):  # a metric that is the same in every run of both
        for run in reps.runs:
            run.summary["concessions"] = 2.0
    row = compare(a, b).set_index("metric").loc["concessions"]
    assert row["difference"] == 0 and not row["different"]
    out = format_comparison(compare(a, b), "a", "b", 4)
    line = next(x for x in out.splitlines() if x.startswith(summary_label("concessions")))
    assert line.endswith("no") and "+0 [+0, +0]" in line


def test_difference_interval_is_welch_or_paired():
    from scipy import stats

    from sim.experiments.compare import difference_interval

    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 30), rng.normal(0.1, 2, 25)
    diff, low, high = difference_interval(a, b, paired=False)
    welch = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.9)
    assert diff == pytest.approx(b.mean() - a.mean())
    assert (low, high) == pytest.approx((welch.low, welch.high))
    c = a + rng.normal(0.05, 0.01, 30)
    _, low, high = difference_interval(a, c, paired=True)
    paired = stats.ttest_rel(c, a).confidence_interval(0.9)
    assert (low, high) == pytest.approx((paired.low, paired.high)) and low > 0


def test_compare_sees_the_strict_cap(short_baseline):
    strict = load_scenario(STRICT, ["steps=24"])
    a = replicate(short_baseline, 4, workers=1, progress=False)
    b = replicate(strict, 4, workers=1, progress=False)
    row = compare(a, b).set_index("metric").loc["china_fdi_share_final"]
    assert row["difference"] < -0.1 and not row["bands_overlap"]
    assert row["different"] and row["diff_high"] < 0 and row["paired"]


@pytest.mark.slow
def test_run_with_replications_writes_bands(tmp_path, capsys):
    code = main(
        ["run", str(BASELINE), "--replications", "3", "--steps", "8", "--out", str(tmp_path)]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "3 replications" in out and "95%" in out
    (folder,) = tmp_path.iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["replications"] == 3 and summary["band"] == 0.9
    assert set(summary["metrics"]["autonomy_mean"]) == {"mean", "p05", "p95"}
    assert len(pd.read_csv(folder / "replications.csv")) == 3
    assert len(pd.read_csv(folder / "steps_band.csv")) == 9
    assert (folder / "export_share_china.png").stat().st_size > 1000
    assert load_scenario(folder / "scenario.toml").steps == 8


@pytest.mark.slow
def test_compare_command_prints_table_and_writes_overlays(tmp_path, capsys):
    code = main(
        [
            "compare",
            str(BASELINE),
            str(STRICT),
            "--replications",
            "2",
            "--set",
            "steps=12",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "A = baseline, B = strict_cap" in out and "different?" in out
    assert "B - A [90% CI]" in out
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("compare-baseline-vs-strict_cap")
    table = pd.read_csv(folder / "comparison.csv")
    assert {"a_mean", "a_p95", "difference", "diff_low", "diff_high", "different"} <= set(
        table.columns
    )
    assert (folder / "fdi_share_china.png").exists() and (folder / "a.toml").exists()


def test_compare_bad_file_is_one_line_and_no_folder(tmp_path, capsys):
    bad = write(
        tmp_path / "bad.toml",
        f'extends = "{BASELINE}"\n[[events]]\nyear = 2016\n'
        'kind = "partnership"\npartner = "mars"\n'
        'level = "strategic"\n',
    )
    out = tmp_path / "out"
    assert main(["compare", str(BASELINE), str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    # its own first event, named in its own file (issue 18: not after the baseline's)
    assert "\n" not in err and "events.0.partner" in err and "bad.toml" in err
    assert not out.exists()


def test_list_command(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "scenarios/history_1990_2024.toml" in out and "scenarios/whatif/no_cap.toml" in out


def test_rounding_noise_is_not_a_difference(short_baseline):
    """Issue 18: the step-up what-if printed `FDI rejected by the cap ... +7.11e-15
    [+8.35e-16, +1.34e-14] YES` (paired runs: an interval of pure rounding excludes 0)."""
    a = replicate(short_baseline, 4, workers=1, progress=False)
    b = replicate(short_baseline, 4, workers=1, progress=False)
    for k, run in enumerate(b.runs):  # B - A is rounding noise, the same sign every run
        run.summary["fdi_rejected_bn_usd_total"] += 5e-15 + 1e-15 * k
        run.summary["autonomy_mean"] += 0.05 + 0.001 * k  # a real, practical difference
    table = compare(a, b).set_index("metric")
    noise = table.loc["fdi_rejected_bn_usd_total"]
    assert noise["diff_low"] > 0 and noise["outside_noise"], "the interval excludes 0"
    assert not noise["different"] and noise["min_effect"] > 1e-6
    real = table.loc["autonomy_mean"]
    assert real["different"] and real["difference"] > real["min_effect"] > 0
    out = format_comparison(compare(a, b), "a", "b", 4)
    line = next(x for x in out.splitlines() if x.startswith("FDI rejected by the cap"))
    assert line.endswith("no") and "e-15" in line


def test_comparison_fits_100_columns_and_wide_shows_everything(short_baseline):
    a = replicate(short_baseline, 3, workers=1, progress=False)
    b = replicate(load_scenario(STRICT, ["steps=24"]), 3, workers=1, progress=False)
    table = compare(a, b)
    narrow = format_comparison(table, "baseline", "strict_cap", 3)
    assert max(len(line) for line in narrow.splitlines()) <= 100, narrow
    for name in table["metric"]:  # every metric is there, its name whole (maybe wrapped)
        assert summary_label(name).split()[0] in narrow
    wide = format_comparison(table, "baseline", "strict_cap", 3, wide=True)
    assert max(len(line) for line in wide.splitlines()) > 100
    a_row = table.set_index("metric").loc["autonomy_mean"]
    assert f"[{a_row['a_p05']:.3f}, {a_row['a_p95']:.3f}]" in wide
    assert f"[{a_row['a_p05']:.3f}, {a_row['a_p95']:.3f}]" not in narrow


def test_compare_shows_episode_lengths(short_baseline):
    """Issue 18: the tutorial asks how long China keeps up the pressure; compare must say."""
    from sim.experiments.compare import episode_lengths

    a = replicate(load_scenario(BASELINE, ["steps=60"]), 4, workers=1, progress=False)
    episodes = [e for run in a.runs for e in run.episodes]
    assert episodes, "no pressure episode in 4 runs of 15 years: pick other steps"
    table = episode_lengths({"A": a}).set_index("neighbour")
    for neighbour in ("china", "russia"):
        mine = [e["quarters"] for e in episodes if e["neighbour"] == neighbour]
        row = table.loc[neighbour]
        assert row["episodes_per_run"] == pytest.approx(len(mine) / 4)
        if mine:
            assert row["quarters_mean"] == pytest.approx(np.mean(mine))
            assert row["quarters_max"] == max(mine)
        assert row["conceded"] + row["resisted"] + row["under_way"] == len(mine)
    out = format_comparison(compare(a, a), "A", "A", 4, episodes=episode_lengths({"A": a}))
    assert "Pressure episodes" in out and "quarters: mean [min, max]" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_compare_plots_draw_the_cap_line(short_baseline):
    from sim.cli.plots import band_figure

    a = replicate(short_baseline, 2, workers=1, progress=False)
    b = replicate(load_scenario(STRICT, ["steps=24"]), 2, workers=1, progress=False)
    fig = band_figure({"a": a.frames, "b": b.frames}, "fdi_share.china", "FDI")
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert any(label.startswith("investment cap (0.33") for label in labels), labels
    other = band_figure({"a": a.frames}, "autonomy", "autonomy")
    assert not any("cap" in line.get_label() for line in other.axes[0].get_lines())


def test_compare_says_what_leverage_measures(short_baseline):
    """Issue 18: a student closing China's border saw "China's effective leverage" go down
    and read it backwards. Wherever leverage is shown, the words say it is exposure in this
    quarter's flows (not what Mongolia stands to lose), so cutting a flow lowers it."""
    from sim.metrics import REGISTRY, SUMMARIES

    for name in ("effective_leverage", "leverage_china", "leverage_china_mean"):
        meaning = {**REGISTRY, **SUMMARIES}[name].definition
        assert "this quarter's" in meaning and "not what Mongolia stands to lose" in meaning
    a = replicate(short_baseline, 2, workers=1, progress=False)
    out = format_comparison(compare(a, a), "A", "B", 2)
    assert max(len(line) for line in out.splitlines()) <= 100, out
    flat = " ".join(out.split())
    assert "not what Mongolia stands to lose" in flat and "border" in flat, out
    assert flat.count("not what Mongolia stands to lose") == 1, "once, not per neighbour"
    words = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "not what Mongolia stands to lose" in words
