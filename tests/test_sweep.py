"""Sweeps: designs, sweep-file errors, backend-independent results, crash and resume,
sensitivity analysis. Runs are kept short (a few quarters) so the file stays fast."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.catalog import BASELINE
from sim.cli.main import main
from sim.cli.report import write_analysis
from sim.experiments.analysis import analyze
from sim.experiments.sampling import apply_point, design, expected_points, point_values
from sim.experiments.seeds import run_seed
from sim.experiments.spec import load_sweep
from sim.experiments.storage import load_runs, load_series
from sim.experiments.sweep import run_sweep
from sim.model.run import run_summary
from sim.schema.scenario import ScenarioError, validate

REPO = Path(__file__).resolve().parent.parent
BASE = BASELINE.as_posix()

RANGES = """
[parameters."investment.cap.level"]
min = 0.2
max = 0.5
[parameters."alignment.level"]
min = 0.1
max = 0.9
[parameters."diplomacy.third_neighbour_engagement"]
min = 0.5
max = 2.0
"""


def sweep_file(
    tmp_path: Path,
    body: str,
    *,
    name: str = "t",
    steps: int = 8,
    replications: int = 1,
    head: str = "",
) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nbase = "{BASE}"\noverrides = ["steps={steps}"]\n'
        f"seed = 11\nreplications = {replications}\n{head}\n{body}",
        encoding="utf-8",
    )
    return path


# --- designs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sampler", "count"),
    [
        ('method = "random"\nsamples = 17', 17),
        ('method = "lhs"\nsamples = 20', 20),
        ('method = "halton"\nsamples = 16', 16),
        ('method = "sobol"\nsamples = 16', 16 * (3 + 2)),
        ('method = "sobol"\nsamples = 8\nsecond_order = true', 8 * (2 * 3 + 2)),
        ('method = "morris"\nsamples = 6\nlevels = 4', 6 * (3 + 1)),
    ],
)
def test_samplers_give_the_promised_number_of_points_within_bounds(tmp_path, sampler, count):
    spec = load_sweep(sweep_file(tmp_path, f"[sampler]\n{sampler}\n{RANGES}"))
    frame = design(spec)
    assert len(frame) == count == expected_points(spec)
    assert frame["point_id"].tolist() == list(range(count))
    for key, (low, high) in {
        "investment.cap.level": (0.2, 0.5),
        "alignment.level": (0.1, 0.9),
        "diplomacy.third_neighbour_engagement": (0.5, 2.0),
    }.items():
        assert frame[key].between(low, high).all(), key
        assert frame[key].nunique() > 1, key
        assert frame[f"u.{key}"].between(0.0, 1.0).all()


def test_latin_hypercube_fills_every_stratum_once(tmp_path):
    spec = load_sweep(sweep_file(tmp_path, f'[sampler]\nmethod = "lhs"\nsamples = 25\n{RANGES}'))
    frame = design(spec)
    for key in spec.keys:
        strata = np.floor(frame[f"u.{key}"].to_numpy() * 25).astype(int)
        assert sorted(strata) == list(range(25))


def test_grid_is_the_full_factorial_of_levels_and_values(tmp_path):
    body = """[sampler]
method = "grid"
[parameters."investment.cap.level"]
min = 0.2
max = 0.5
levels = 4
[parameters."investment.cap.enforcement"]
values = ["strict", "leaky", "none"]
[parameters.alignment.level]
values = [0.1, 0.9]
"""
    spec = load_sweep(sweep_file(tmp_path, body))
    frame = design(spec)
    assert len(frame) == 4 * 3 * 2 == expected_points(spec)
    combos = set(map(tuple, frame[spec.keys].to_numpy().tolist()))
    assert len(combos) == 24
    assert sorted(frame["investment.cap.level"].unique()) == pytest.approx([0.2, 0.3, 0.4, 0.5])
    assert set(frame["investment.cap.enforcement"]) == {"strict", "leaky", "none"}
    assert spec.keys[2] == "alignment.level"  # the unquoted table form names the same path


def test_categorical_and_distributions_map_into_their_support(tmp_path):
    body = """[sampler]
method = "random"
samples = 200
[parameters."pressure.response"]
values = ["bargain", "concede", "resist"]
[parameters."pressure.concession_price"]
min = 0.001
max = 0.1
dist = "loguniform"
[parameters."pressure.horizon_quarters"]
min = 1
max = 12
integer = true
[parameters."investment.offer_noise"]
dist = "normal"
mean = 0.25
sd = 0.02
"""
    spec = load_sweep(sweep_file(tmp_path, body))
    frame = design(spec)
    assert set(frame["pressure.response"]) == {"bargain", "concede", "resist"}
    assert frame["pressure.concession_price"].between(0.001, 0.1).all()
    # log-uniform: about as many draws below the geometric midpoint (0.01) as above
    assert 0.35 < (frame["pressure.concession_price"] < 0.01).mean() < 0.65
    assert frame["pressure.horizon_quarters"].dtype == np.int64
    assert frame["pressure.horizon_quarters"].between(1, 12).all()
    assert set(frame["pressure.horizon_quarters"]) == set(range(1, 13))  # ends included
    assert abs(frame["investment.offer_noise"].mean() - 0.25) < 0.01
    from sim.experiments.sampling import validate_points

    validate_points(spec, frame)  # every draw is a valid scenario


# --- bad sweep files -------------------------------------------------------------------

GOOD_SAMPLER = '[sampler]\nmethod = "random"\nsamples = 4\n'


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ("colour = 1\n" + GOOD_SAMPLER + RANGES, "colour", "unknown key"),
        (
            GOOD_SAMPLER + '[parameters."alignment.level"]\nmin = 0.1\nmaxx = 0.9\n',
            'parameters."alignment.level".maxx',
            "did you mean 'max'",
        ),
        (
            GOOD_SAMPLER + '[parameters."investment.cap.levle"]\nmin = 0.2\nmax = 0.4\n',
            'parameters."investment.cap.levle"',
            "did you mean 'investment.cap.level'",
        ),
        (
            GOOD_SAMPLER + '[parameters."investment.cap"]\nmin = 0.2\nmax = 0.4\n',
            'parameters."investment.cap"',
            "table",
        ),
        (
            GOOD_SAMPLER + '[parameters."alignment.level"]\nmin = 0.9\nmax = 0.1\n',
            'parameters."alignment.level".max',
            "min < max",
        ),
        ('[sampler]\nmethod = "sobol"\nsamples = 100\n' + RANGES, "sampler.samples", "power of 2"),
        (
            '[sampler]\nmethod = "grid"\n' + RANGES,
            'parameters."investment.cap.level".levels',
            "levels",
        ),
        ('[sampler]\nmethod = "latin"\nsamples = 4\n' + RANGES, "sampler.method", "grid"),
        (GOOD_SAMPLER, "parameters", "missing"),
        (
            GOOD_SAMPLER + '[parameters."investment.cap.level"]\nmin = 0.5\nmax = 1.5\n',
            'parameters."investment.cap.level"',
            "point",
        ),
        (
            GOOD_SAMPLER + '[parameters."pressure.response"]\nvalues = ["bargain", "fold"]\n',
            'parameters."pressure.response"',
            "fold",
        ),
        (
            GOOD_SAMPLER + RANGES + '[outputs]\nsummary = ["autonomy_meen"]\n',
            "outputs.summary[0]",
            "did you mean 'autonomy_mean'",
        ),
        (
            GOOD_SAMPLER + RANGES + '[outputs]\nseries = ["autonomie"]\n',
            "outputs.series[0]",
            "autonomy",
        ),
    ],
)
def test_invalid_sweep_files_name_file_and_key(tmp_path, body, key, words):
    path = sweep_file(tmp_path, body)
    with pytest.raises(ScenarioError) as caught:
        spec = load_sweep(path)
        from sim.experiments.sampling import validate_points

        validate_points(spec, design(spec))
    assert caught.value.file == str(path)
    assert caught.value.key == key
    assert words in str(caught.value)


def test_cli_reports_a_bad_sweep_in_one_line_with_exit_2(tmp_path, capsys):
    path = sweep_file(tmp_path, GOOD_SAMPLER + '[parameters."alignment.level"]\nmin = 0.1\n')
    out = tmp_path / "never"
    assert main(["sweep", str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert str(path) in err and 'parameters."alignment.level".max' in err
    assert not out.exists()  # nothing is created for a sweep that cannot run


def test_resuming_with_a_different_sweep_file_is_an_error(tmp_path):
    from sim.schema.base import ResultsFolderError as ScenarioError  # a folder, not a file

    first = sweep_file(tmp_path, GOOD_SAMPLER + RANGES, name="a")
    run_sweep(load_sweep(first), tmp_path / "out", workers=1, progress=False)
    other = sweep_file(tmp_path, GOOD_SAMPLER.replace("4", "5") + RANGES, name="a")
    with pytest.raises(ScenarioError) as caught:
        run_sweep(load_sweep(other), tmp_path / "out", workers=1, progress=False)
    assert caught.value.file.endswith("manifest.json")
    assert "sweep_sha256" in caught.value.key
    assert len(load_runs(tmp_path / "out")) == 4  # the first sweep's runs are untouched


def test_out_pointing_at_a_folder_of_other_things_is_refused(tmp_path):
    from sim.schema.base import ResultsFolderError as ScenarioError  # a folder, not a file

    (tmp_path / "parent").mkdir()
    (tmp_path / "parent" / "cap-grid-20261124-081500").mkdir()
    spec = load_sweep(sweep_file(tmp_path, GOOD_SAMPLER + RANGES))
    with pytest.raises(ScenarioError) as caught:
        run_sweep(spec, tmp_path / "parent", workers=1, progress=False)
    assert caught.value.key == "--out" and "cap-grid-20261124-081500" in caught.value.found
    assert not (tmp_path / "parent" / "manifest.json").exists()


# --- the same results whatever the backend ---------------------------------------------

SMALL = (
    '[sampler]\nmethod = "lhs"\nsamples = 6\n'
    + RANGES
    + '[outputs]\nseries = ["autonomy", "fdi_share.china"]\nseries_every = 2\n'
)


@pytest.mark.slow
def test_local_and_dask_give_identical_tables(tmp_path):
    from dask.distributed import LocalCluster

    spec = load_sweep(sweep_file(tmp_path, SMALL, replications=2))
    local = run_sweep(spec, tmp_path / "local", workers=2, chunk_runs=3, progress=False)
    one = run_sweep(spec, tmp_path / "one", workers=1, chunk_runs=5, progress=False)
    # processes=False: in-process workers over Dask's inproc transport, no sockets at all
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        dask = run_sweep(
            spec,
            tmp_path / "dask",
            backend="dask",
            scheduler=cluster.scheduler_address,
            chunk_runs=4,
            progress=False,
        )
    assert local.ran == one.ran == dask.ran == 12
    tables = [load_runs(o.folder).drop(columns="seconds") for o in (local, one, dask)]
    assert tables[0]["run_id"].tolist() == list(range(12))
    assert tables[0]["error"].isna().all()
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pd.testing.assert_frame_equal(tables[0], tables[2])
    series = [load_series(o.folder) for o in (local, dask)]
    pd.testing.assert_frame_equal(series[0], series[1])
    assert set(series[0]["step"]) == {0, 2, 4, 6, 8}
    # Each row is the run its seed says: rerun run 5 on its own and compare.
    row = tables[0].iloc[5]
    assert row["seed"] == run_seed(11, 5) and row["point_id"] == 2 and row["replication"] == 1
    config = validate(
        apply_point(
            spec.base.model_dump(mode="json"), spec.keys, point_values(spec, design(spec))[2]
        )
    )
    alone = run_summary(config, run_seed(11, 5))
    assert row["autonomy_mean"] == alone["autonomy_mean"]
    # Replications of one point differ (their own seeds), points differ too.
    assert tables[0]["autonomy_mean"].nunique() > 6


# --- kill -9 and resume ----------------------------------------------------------------


def _sweep_command(path: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        str(REPO / "run.py"),
        "sweep",
        str(path),
        "--out",
        str(out),
        "--workers",
        "2",
        "--chunk-runs",
        "4",
        "--no-progress",
    ]


@pytest.mark.slow
def test_sigkill_midway_then_resume_runs_every_run_exactly_once(tmp_path):
    path = sweep_file(
        tmp_path,
        '[sampler]\nmethod = "random"\nsamples = 60\n'
        + RANGES
        + '[outputs]\nseries = ["autonomy"]\nseries_every = 10\n',
        steps=40,
        replications=2,
    )
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _sweep_command(path, out),
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(list((out / "runs").glob("runs-*.parquet"))) >= 3:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.01)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, mid-chunk
    proc.wait()
    proc.stderr.close()
    before = load_runs(out)
    assert 0 < len(before) < 120
    resumed = subprocess.run(
        _sweep_command(path, out), cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stdout
    runs = load_runs(out)
    assert runs["run_id"].tolist() == list(range(120))  # every run, exactly once
    assert runs["error"].isna().all()
    assert not list(out.rglob("*.part"))
    series = load_series(out)
    assert series.groupby("run_id").size().eq(5).all() and series["run_id"].nunique() == 120
    # What was saved before the kill is identical to what a clean sweep gives.
    clean = run_sweep(load_sweep(path), tmp_path / "clean", workers=2, progress=False)
    reference = load_runs(clean.folder).drop(columns="seconds")
    pd.testing.assert_frame_equal(runs.drop(columns="seconds"), reference)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    path = sweep_file(tmp_path, '[sampler]\nmethod = "random"\nsamples = 400\n' + RANGES, steps=40)
    out = tmp_path / "stopped"
    proc = subprocess.Popen(
        _sweep_command(path, out),
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((out / "runs").glob("runs-*.parquet")):
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"resume with: python run.py sweep {path} --out {out}" in stderr
    saved = load_runs(out)
    assert 0 < len(saved) < 400 and saved["run_id"].is_unique


# --- analysis --------------------------------------------------------------------------


@pytest.mark.slow
def test_analyze_a_small_sobol_sweep_writes_finite_indices(tmp_path, capsys):
    path = sweep_file(
        tmp_path,
        '[sampler]\nmethod = "sobol"\nsamples = 16\n'
        + RANGES
        + '[outputs]\nsummary = ["autonomy_mean", "leverage_russia_mean", '
        '"china_fdi_share_final"]\n',
        steps=12,
        replications=2,
    )
    outcome = run_sweep(load_sweep(path), tmp_path / "sobol", workers=2, progress=False)
    assert outcome.ran == 16 * 5 * 2
    assert main(["analyze", str(outcome.folder)]) == 0
    printed = capsys.readouterr().out
    assert "most influential parameters" in printed and "leverage_russia_mean" in printed
    indices = pd.read_csv(outcome.folder / "analysis" / "sobol_indices.csv")
    assert len(indices) == 3 * 3
    values = indices[["S1", "S1_conf", "ST", "ST_conf"]].to_numpy()
    assert np.isfinite(values).all()
    assert (indices["ST"] > -0.1).all() and (indices["ST_conf"] >= 0).all()
    # Russia's leverage follows Sino-Russian alignment: it must rank first there.
    russia = indices[indices["output"] == "leverage_russia_mean"]
    assert russia.sort_values("ST").iloc[-1]["parameter"] == "alignment.level"
    assert (outcome.folder / "analysis" / "sobol_autonomy_mean.png").stat().st_size > 1000
    means = pd.read_csv(outcome.folder / "analysis" / "point_means.csv")
    assert len(means) == 80 and means["replications"].eq(2).all()


@pytest.mark.slow
def test_analyze_a_grid_writes_main_effects_heatmaps_and_lines(tmp_path):
    body = """[sampler]
method = "grid"
[parameters."investment.cap.enforcement"]
values = ["strict", "none"]
[parameters."alignment.level"]
values = [0.0, 1.0]
[outputs]
summary = ["leverage_russia_mean", "fdi_rejected_bn_usd_total"]
"""
    path = sweep_file(tmp_path, body, steps=12, replications=3)
    outcome = run_sweep(load_sweep(path), tmp_path / "grid", workers=1, progress=False)
    report = write_analysis(analyze(outcome.folder))
    effects = report.indices.set_index(["output", "parameter"])["main_effect"]
    assert effects[("leverage_russia_mean", "alignment.level")] > 0.5
    # With no enforcement nothing is rejected; strict enforcement rejects China's excess.
    assert effects[("fdi_rejected_bn_usd_total", "investment.cap.enforcement")] > 0.5
    assert (
        effects[("fdi_rejected_bn_usd_total", "investment.cap.enforcement")]
        > effects[("fdi_rejected_bn_usd_total", "alignment.level")]
    )
    names = {p.name for p in report.files}
    assert {
        "main_effects.csv",
        "heatmap_leverage_russia_mean.png",
        "lines_fdi_rejected_bn_usd_total.png",
    } <= names


@pytest.mark.slow
def test_a_halton_sweep_runs_and_analyze_writes_its_main_effects(tmp_path, capsys):
    """A sampler added as one registry entry: designed, run and analysed like lhs."""
    path = sweep_file(
        tmp_path,
        '[sampler]\nmethod = "halton"\nsamples = 32\n'
        + RANGES
        + '[outputs]\nsummary = ["leverage_russia_mean", "autonomy_mean"]\n',
        steps=8,
    )
    spec = load_sweep(path)
    frame = design(spec)
    assert frame.equals(design(spec))  # seeded from the design seed
    # Low discrepancy: each half of every parameter's range holds half the points, give
    # or take one (independent draws would often miss by 3 or more).
    for key in spec.keys:
        assert abs((frame[f"u.{key}"] < 0.5).sum() - 16) <= 1, key
    outcome = run_sweep(spec, tmp_path / "halton", workers=1, progress=False)
    assert outcome.ran == 32
    assert main(["analyze", str(outcome.folder)]) == 0
    assert "most influential parameters" in capsys.readouterr().out
    effects = pd.read_csv(outcome.folder / "analysis" / "main_effects.csv")
    assert set(effects["output"]) == {"leverage_russia_mean", "autonomy_mean"}
    russia = effects[effects["output"] == "leverage_russia_mean"].set_index("parameter")
    assert russia["main_effect"].idxmax() == "alignment.level"
    assert (outcome.folder / "analysis" / "main_effects_leverage_russia_mean.png").is_file()


def test_every_sweep_file_key_is_documented():
    from sim.experiments.spec import sweep_keys

    text = (REPO / "docs" / "sweeps.md").read_text(encoding="utf-8")
    missing = [key for key, _ in sweep_keys() if f"| `{key}` |" not in text]
    assert not missing


@pytest.mark.parametrize(
    "name", ["cap_grid", pytest.param("sobol_policy", marks=pytest.mark.slow), "morris_screening"]
)
def test_shipped_sweeps_load_and_every_point_is_valid(name):
    from sim.experiments.sampling import validate_points

    spec = load_sweep(REPO / "scenarios" / "sweeps" / f"{name}.toml")
    frame = design(spec)
    validate_points(spec, frame)
    assert len(frame) == expected_points(spec)
    if name == "sobol_policy":
        assert len(spec.params) >= 8
    if name == "cap_grid":
        assert spec.keys == [
            "investment.cap.level",
            "investment.cap.enforcement",
            "alignment.level",
        ]


def test_analyze_a_morris_sweep_writes_mu_star_and_sigma(tmp_path):
    path = sweep_file(
        tmp_path,
        '[sampler]\nmethod = "morris"\nsamples = 4\nlevels = 4\n'
        + RANGES
        + '[outputs]\nsummary = ["leverage_russia_mean"]\n',
        steps=8,
    )
    outcome = run_sweep(load_sweep(path), tmp_path / "morris", workers=1, progress=False)
    assert outcome.ran == 4 * (3 + 1)
    report = analyze(outcome.folder, plots=False)
    indices = report.indices.set_index("parameter")
    assert np.isfinite(indices[["mu_star", "mu_star_conf", "mu", "sigma"]].to_numpy()).all()
    assert (indices["mu_star"] >= indices["mu"].abs() - 1e-12).all()  # mu* = mean |EE|
    assert indices["mu_star"].idxmax() == "alignment.level"


def test_a_failing_run_is_recorded_and_the_chunk_carries_on(tmp_path, monkeypatch):
    import sim.model.run
    from sim.experiments.sweep import context_for, make_chunks, run_chunk

    spec = load_sweep(sweep_file(tmp_path, GOOD_SAMPLER + RANGES))
    real = sim.model.run.run_model

    def flaky(config, seed, *args, **kwargs):
        if seed == run_seed(11, 2):
            raise FloatingPointError("overflow in the trade block")
        return real(config, seed, *args, **kwargs)

    monkeypatch.setattr(sim.model.run, "run_model", flaky)
    chunk = next(make_chunks(spec, point_values(spec, design(spec)), np.arange(4), 4))
    runs, _ = run_chunk(context_for(spec), chunk)
    table = runs.to_pandas()
    assert table["error"].tolist()[2] == "FloatingPointError: overflow in the trade block"
    assert table["error"].isna().tolist() == [True, True, False, True]
    assert np.isnan(table.loc[2, "autonomy_mean"])
    assert np.isfinite(table.drop(index=2)["autonomy_mean"]).all()


def test_a_sweep_name_is_a_safe_folder_name(tmp_path):
    """Audit of issue 11: a sweep file's name was used as a path ('../esc' wrote outside
    results/, '/tmp/x' anywhere, '' a folder named '-<timestamp>')."""
    from sim.experiments.spec import load_sweep

    root = Path(__file__).resolve().parent.parent
    good = (root / "scenarios" / "sweeps" / "cap_grid.toml").read_text(encoding="utf-8")
    for name in ("../esc", "/tmp/abs", "", "a / b"):
        path = tmp_path / "bad.toml"
        text = good.replace('name = "cap-grid"', f'name = "{name}"').replace(
            'base = "../baseline.toml"', f'base = "{BASELINE}"'
        )
        assert text != good
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ScenarioError) as caught:
            load_sweep(path)
        assert caught.value.key == "name", str(caught.value)
