"""Sweeps under faults (issue 11): a second writer, killed parents, dead workers, damaged
chunks, a changed design, file modes, non-finite runs, and what the analysis does with
failed runs."""

from __future__ import annotations

import os
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.catalog import BASELINE
from sim.cli.main import main
from sim.experiments import executor
from sim.experiments.analysis import analyze, load_results
from sim.experiments.indices import SweepData, main_effects
from sim.experiments.sampling import design, point_values
from sim.experiments.spec import load_sweep
from sim.experiments.storage import load_runs
from sim.experiments.sweep import context_for, describe_error, make_chunks, run_chunk, run_sweep
from sim.files import write_text
from sim.schema.base import ResultsFolderError, ScenarioError
from tests.test_sweep import RANGES, REPO, sweep_file

RANDOM = '[sampler]\nmethod = "random"\nsamples = 12\n'


def small_sweep(tmp_path: Path, body: str = RANDOM + RANGES, **kwargs) -> Path:
    return sweep_file(tmp_path, body, **kwargs)


# --- 1. a scenario file given to sweep ---------------------------------------------------


def test_a_scenario_file_given_to_sweep_says_so_in_one_line(capsys):
    assert main(["sweep", str(BASELINE)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "this is a scenario file, not a sweep file" in err
    assert "more problem" not in err


# --- 2. one writer per folder; duplicates never counted twice -----------------------------


@pytest.mark.slow
def test_a_second_sweep_on_a_locked_folder_exits_2_naming_the_holder(tmp_path, capsys):
    path = small_sweep(tmp_path)
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from sim.experiments.storage import FolderLock; "
            f"FolderLock(Path({str(out)!r})); print('locked', flush=True); time.sleep(60)",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        code = main(["sweep", str(path), "--out", str(out), "--no-progress", "--workers", "1"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "\n" not in err
        assert f"another sweep (process {holder.pid})" in err
        assert not list(out.glob("runs/*.parquet"))
    finally:
        holder.kill()
        holder.wait()
    # The holder is gone: the lock went with it, and the sweep runs.
    assert main(["sweep", str(path), "--out", str(out), "--no-progress", "--workers", "1"]) == 0


@pytest.mark.slow
def test_duplicate_run_ids_are_dropped_once_and_reported(tmp_path):
    outcome = run_sweep(
        load_sweep(small_sweep(tmp_path)), tmp_path / "out", workers=1, progress=False, chunk_runs=4
    )
    runs_dir = outcome.folder / "runs"
    first = sorted(runs_dir.glob("runs-*.parquet"))[0]
    # What a second writer left: the same run ids in another chunk file.
    pq.write_table(pq.read_table(first), runs_dir / "runs-99999990-99999999.parquet")
    runs = load_runs(outcome.folder)
    assert len(runs) == 12 and runs["run_id"].is_unique
    assert runs.attrs["duplicates"] == 4 and runs.attrs["duplicate_ids"] == [0, 1, 2, 3]
    report = analyze(outcome.folder, plots=False)
    assert "12 of 12 runs" in report.table
    assert "4 duplicate row(s)" in report.table


# --- 3. killed parents leave no workers and release the caller's pipe ---------------------


def _descendants(pid: int) -> set[int]:
    children: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), set()).add(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_sweep_leaves_no_process_and_closes_its_output(tmp_path, sig):
    path = small_sweep(tmp_path, '[sampler]\nmethod = "random"\nsamples = 400\n' + RANGES, steps=40)
    out = tmp_path / "killed"
    command = [sys.executable, str(REPO / "run.py"), "sweep", str(path), "--out", str(out)]
    proc = subprocess.Popen(
        [*command, "--workers", "2", "--chunk-runs", "4", "--no-progress"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((out / "runs").glob("runs-*.parquet")):
            assert proc.poll() is None
            time.sleep(0.01)
        family = _descendants(proc.pid)
        assert family, "the sweep started no worker"
        os.kill(proc.pid, sig)  # the main process only, as `kill` or the OOM killer does
        assert proc.stdout is not None and proc.stderr is not None
        # A caller capturing the output must see it end (every copy of the pipe closed).
        deadline = time.monotonic() + 10
        for pipe in (proc.stdout, proc.stderr):
            while True:
                ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
                assert ready, "the output pipe is still open: an orphan holds it"
                if not os.read(pipe.fileno(), 65536):
                    break
        code = proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in family):
            time.sleep(0.05)
        assert not [p for p in family if _alive(p)], "a worker outlived the sweep"
        if sig == signal.SIGTERM:
            assert code != 0
    finally:
        for p in {proc.pid, *_descendants(proc.pid)}:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()


@pytest.mark.slow
def test_sigterm_stops_like_ctrl_c_and_prints_the_resume_command(tmp_path):
    path = small_sweep(tmp_path, '[sampler]\nmethod = "random"\nsamples = 400\n' + RANGES, steps=40)
    out = tmp_path / "stopped"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "sweep", str(path), "--out", str(out)]
        + ["--workers", "2", "--chunk-runs", "4", "--no-progress"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((out / "runs").glob("runs-*.parquet")):
        time.sleep(0.01)
    proc.terminate()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"resume with: python run.py sweep {path} --out {out}" in stderr
    saved = load_runs(out)
    assert 0 < len(saved) < 400 and saved["run_id"].is_unique


SLOW_PRELOAD = """
import os, pathlib, time
if os.getpid() != int(os.environ["MAIN_PID"]):  # the fork server, importing its preload
    pathlib.Path(os.environ["PRELOADING"]).touch()
    time.sleep(4)


def task(shared, chunk):
    return chunk
"""
EARLY_CTRL_C = """
import multiprocessing, os, sys
os.environ["MAIN_PID"] = str(os.getpid())
from sim.experiments import executor
import slow_preload


def fork_server(preload):  # as on a machine where numpy already started threads
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([executor.SERVER_SETUP, *preload])
    return context


executor.start_context = fork_server
if __name__ == "__main__":
    try:
        executor.execute(slow_preload.task, None, lambda slots: [[i] for i in range(8)],
                         lambda chunk, result: None, workers=2, preload=["slow_preload"])
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    print("finished", file=sys.stderr)
"""


@pytest.mark.slow
def test_ctrl_c_while_workers_start_prints_no_traceback(tmp_path):
    """Issue 18: Ctrl-C early in a parallel `run --replications` or `compare` printed the
    clean line, then a 20-35 line KeyboardInterrupt traceback of the fork server, which
    was still importing its preload when the terminal's Ctrl-C reached it."""
    (tmp_path / "slow_preload.py").write_text(SLOW_PRELOAD)
    (tmp_path / "early.py").write_text(EARLY_CTRL_C)
    flag = tmp_path / "preloading"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        "PRELOADING": str(flag),
    }
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "early.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not flag.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert flag.exists(), proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole group
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert proc.returncode == 130 and stderr.strip() == "interrupted", stderr


# --- 4. a dead worker does not stop a local sweep ----------------------------------------


def die_once(marker: str, chunk: list[int]) -> list[int]:
    """Executor task: the first call anywhere kills its own worker (as the OOM killer
    would); every other call returns its chunk."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return chunk
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    return chunk


def die_always(marker: str, chunk: list[int]) -> list[int]:
    os.kill(os.getpid(), signal.SIGKILL)
    return chunk


@pytest.mark.slow
def test_a_worker_killed_once_is_replaced_and_its_chunk_rerun(tmp_path):
    got: list[int] = []
    with pytest.warns(UserWarning, match="a worker process died"):  # said, not silent (audit)
        executor.execute(
            die_once,
            str(tmp_path / "died"),
            lambda slots: [[i, i + 100] for i in range(12)],
            lambda chunk, result: got.extend(result),
            workers=2,
        )
    assert (tmp_path / "died").exists()  # a worker did die
    assert sorted(got) == sorted([*range(12), *range(100, 112)])  # every chunk exactly once


@pytest.mark.slow
def test_workers_that_keep_dying_give_up_with_one_line(tmp_path):
    with pytest.raises(executor.WorkersDied) as caught, pytest.warns(UserWarning, match="died"):
        executor.execute(
            die_always, "", lambda slots: [[i] for i in range(6)], lambda c, r: None, workers=2
        )
    message = str(caught.value)
    assert "\n" not in message
    assert f"died {executor.MAX_WORKER_DEATHS} times" in message


# --- 5. damaged chunks and durable writes -------------------------------------------------


def test_a_damaged_chunk_is_rerun_on_resume_and_skipped_by_analyze(tmp_path):
    spec = load_sweep(small_sweep(tmp_path))
    outcome = run_sweep(spec, tmp_path / "out", workers=1, progress=False, chunk_runs=4)
    files = sorted((outcome.folder / "runs").glob("runs-*.parquet"))
    files[0].write_bytes(b"")  # 0 bytes
    files[1].write_bytes(files[1].read_bytes()[:100])  # truncated
    report = analyze(outcome.folder, plots=False)  # a random sweep: analysed without them
    assert "4 of 12 runs" in report.table
    assert "2 unreadable chunk file(s) skipped" in report.table
    again = run_sweep(spec, outcome.folder, workers=1, progress=False, chunk_runs=4)
    assert (
        again.resumed
        and again.ran == 8
        and sorted(again.damaged) == sorted(f.name for f in files[:2])
    )
    runs = load_runs(outcome.folder)
    assert runs["run_id"].tolist() == list(range(12))
    clean = run_sweep(spec, tmp_path / "clean", workers=1, progress=False, chunk_runs=4)
    pd.testing.assert_frame_equal(
        runs.drop(columns="seconds"), load_runs(clean.folder).drop(columns="seconds")
    )


def test_write_atomic_fsyncs_the_file_and_its_folder(tmp_path, monkeypatch):
    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    target = write_text(tmp_path / "a.txt", "x")
    assert any(Path(p).name.startswith(".a.txt.") for p in synced)  # the data, before rename
    assert str(tmp_path) in synced  # the rename itself
    assert target.read_text() == "x"


# --- 6. a changed design is never mixed into a folder -------------------------------------


def test_resume_refuses_a_design_that_differs_from_the_saved_one(tmp_path):
    spec = load_sweep(small_sweep(tmp_path))
    outcome = run_sweep(spec, tmp_path / "out", workers=1, progress=False, chunk_runs=4)
    saved = pq.read_table(outcome.folder / "design.parquet").to_pandas()
    saved.loc[5, "alignment.level"] += 1e-9  # what a new sampler version could give
    pq.write_table(
        pa.Table.from_pandas(saved, preserve_index=False), outcome.folder / "design.parquet"
    )
    with pytest.raises(
        ResultsFolderError, match=r"point 5 is 0\.\d+ in the saved design but 0\.\d+ now"
    ):
        run_sweep(spec, outcome.folder, workers=1, progress=False)


# --- 7. results are readable by colleagues ------------------------------------------------


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        target = write_text(tmp_path / "a.txt", "x")
        outcome = run_sweep(
            load_sweep(small_sweep(tmp_path)), tmp_path / "out", workers=1, progress=False
        )
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    for path in [*outcome.folder.glob("*.*"), *outcome.folder.glob("runs/*.parquet")]:
        if path.name != ".sweep.lock":
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


# --- 8. non-finite runs are failed runs with a readable reason ------------------------------


def test_a_non_finite_summary_is_a_failed_run_with_a_readable_error(tmp_path, monkeypatch):
    import sim.metrics

    spec = load_sweep(small_sweep(tmp_path))
    real = sim.metrics.summarize
    calls = {"n": 0}

    def poisoned(columns, names=None):
        calls["n"] += 1
        out = real(columns, names)
        if calls["n"] == 2:
            out[spec.summary[0]] = float("inf")
        if calls["n"] == 3:
            raise OverflowError(34, "Numerical result out of range")
        return out

    monkeypatch.setattr(sim.metrics, "summarize", poisoned)
    chunk = next(make_chunks(spec, point_values(spec, design(spec)), np.arange(4), 4))
    table = run_chunk(context_for(spec), chunk)[0].to_pandas()
    assert table["error"][1] == f"NonFiniteOutput: not a finite number: {spec.summary[0]}=inf"
    assert table["error"][2] == "OverflowError: Numerical result out of range"
    assert table["error"].isna().tolist() == [True, False, False, True]


def test_describe_error_keeps_the_models_message():
    from sim.model.model import NonFiniteError

    error = NonFiniteError("2016 Q3: not a finite number: export revenue")
    assert describe_error(error) == "NonFiniteError: 2016 Q3: not a finite number: export revenue"


# --- 9-11. analysis of failed and non-finite runs -----------------------------------------


def _finished(tmp_path: Path, body: str, **kwargs) -> Path:
    spec = load_sweep(small_sweep(tmp_path, body, **kwargs))
    return run_sweep(spec, tmp_path / "out", workers=1, progress=False, chunk_runs=1000).folder


def _rewrite_runs(folder: Path, change) -> None:
    for path in (folder / "runs").glob("runs-*.parquet"):
        frame = pq.read_table(path).to_pandas()
        change(frame)
        pq.write_table(
            pa.Table.from_pandas(frame, preserve_index=False, schema=pq.read_schema(path)), path
        )


def test_analyze_leaves_failed_and_non_finite_runs_out_and_says_how_many(tmp_path):
    folder = _finished(tmp_path, '[sampler]\nmethod = "random"\nsamples = 40\n' + RANGES)

    def damage(frame: pd.DataFrame) -> None:
        frame.loc[[0, 1, 2], "autonomy_mean"] = np.nan  # an older sweep: NaN, no error
        frame.loc[3, "error"] = "NonFiniteError: 2016 Q3: not a finite number: autonomy"
        frame.loc[3, "autonomy_mean"] = np.nan

    _rewrite_runs(folder, damage)
    report = analyze(folder, plots=False)
    assert "36 of 40 runs" in report.table
    assert "4 failed run(s) of 40 left out of the random analysis" in report.table
    effects = report.indices[report.indices["output"] == "autonomy_mean"]
    assert effects["main_effect"].between(0, 1).all()  # computed on the same 36 runs
    clean = load_results(folder).data
    assert len(clean.runs) == 36


def test_main_effects_ignore_non_finite_rows_and_do_not_call_inf_constant():
    rng = np.random.default_rng(1)
    runs = pd.DataFrame({"point_id": range(200), "a": rng.random(200), "b": rng.random(200)})
    runs["y"] = 3 * runs["a"] + rng.normal(0, 0.01, 200)
    runs["z"] = runs["y"]
    runs.loc[:9, "y"] = np.nan
    runs.loc[0, "z"] = np.inf
    data = SweepData(
        design=runs.set_index("point_id"), runs=runs, keys=["a", "b"], outputs=["y", "z"]
    )
    effects = main_effects(data).set_index(["output", "parameter"])
    # Shares of variance: each in [0, 1] and (one real parameter) a in front, near 1.
    assert 0.9 < effects.loc[("y", "a"), "main_effect"] <= 1.0
    assert effects.loc[("y", "b"), "main_effect"] < 0.1
    assert "10 run(s) with a non-finite value left out" in effects.loc[("y", "a"), "note"]
    assert "1 run(s)" in effects.loc[("z", "a"), "note"]
    from sim.experiments.indices import sobol_indices

    sob = SweepData(design=runs.set_index("point_id"), runs=runs, keys=["a", "b"], outputs=["z"])
    notes = set(sobol_indices(sob)["note"])
    assert notes == {"not analysed: 1 non-finite value(s)"}


def test_main_effects_have_a_noise_floor_that_an_unread_parameter_stays_under():
    rng = np.random.default_rng(3)
    n = 300
    runs = pd.DataFrame({"point_id": range(n), "real": rng.random(n), "unread": rng.random(n)})
    runs["y"] = 0.4 * runs["real"] + rng.normal(0, 0.3, n)
    data = SweepData(
        design=runs.set_index("point_id"), runs=runs, keys=["real", "unread"], outputs=["y"], seed=5
    )
    effects = main_effects(data).set_index("parameter")
    assert effects.loc["unread", "main_effect"] > 0.01  # chance alone: ~ 9 / 299
    assert not effects.loc["unread", "above_floor"]
    assert effects.loc["real", "above_floor"]
    assert effects.loc["unread", "main_effect"] < effects.loc["unread", "noise_floor"]


def test_sobol_names_points_with_no_successful_run(tmp_path):
    folder = _finished(tmp_path, '[sampler]\nmethod = "sobol"\nsamples = 4\n' + RANGES)

    def fail(frame: pd.DataFrame) -> None:
        lost = frame["point_id"].isin([2, 7])
        frame.loc[lost, "error"] = "RuntimeError: lost"

    _rewrite_runs(folder, fail)
    with pytest.raises(
        ScenarioError, match=r"2 point\(s\) with no successful run \(point ids 2, 7\)"
    ):
        analyze(folder, plots=False)


def test_morris_drops_trajectories_of_failed_points_when_asked(tmp_path):
    folder = _finished(tmp_path, '[sampler]\nmethod = "morris"\nsamples = 4\n' + RANGES)

    def fail(frame: pd.DataFrame) -> None:
        frame.loc[frame["point_id"] == 5, "error"] = "RuntimeError: lost"  # trajectory 1

    _rewrite_runs(folder, fail)
    with pytest.raises(ScenarioError, match="--drop-failed-trajectories"):
        analyze(folder, plots=False)
    report = analyze(folder, plots=False, drop_failed_trajectories=True)
    assert "1 Morris trajectorie(s) dropped (numbers 1)" in report.table
    moved = report.indices[report.indices["output"] == "autonomy_mean"]
    assert moved["mu_star"].notna().all()  # the 3 remaining trajectories analysed


# --- 12. plots: log axes and the sweep file's order ----------------------------------------


def test_plots_use_log_axes_and_the_files_order_of_levels(tmp_path):
    body = (
        '[sampler]\nmethod = "lhs"\nsamples = 12\n'
        '[parameters."diplomacy.third_neighbour_engagement"]\nmin = 0.5\nmax = 2.0\n'
        'dist = "loguniform"\n'
        '[parameters."investment.cap.enforcement"]\nvalues = ["none", "strict", "leaky"]\n'
        '[outputs]\nsummary = ["autonomy_mean"]\n'
    )
    folder = _finished(tmp_path, body)
    figures = dict(analyze(folder).figures)
    axes = figures["lines_autonomy_mean.png"].axes
    assert axes[0].get_xscale() == "log"
    labels = [t.get_text() for t in axes[1].get_xticklabels()]
    present = [v for v in ["none", "strict", "leaky"] if v in labels]
    assert labels == present and len(labels) >= 2
    assert "main_effects_autonomy_mean.png" in figures


def test_chunks_whose_string_types_differ_still_load_together(tmp_path):
    """Audit of issue 11: a chunk rewritten by another library version (large_string)
    made load_runs fail with ArrowInvalid."""
    spec = load_sweep(small_sweep(tmp_path))
    outcome = run_sweep(spec, tmp_path / "out", workers=1, progress=False, chunk_runs=4)
    chunk = sorted((outcome.folder / "runs").glob("*.parquet"))[0]
    table = pq.read_table(chunk)
    wide = pa.schema(
        [f.with_type(pa.large_string()) if f.type == pa.string() else f for f in table.schema]
    )
    pq.write_table(table.cast(wide), chunk)
    assert len(load_runs(outcome.folder)) == outcome.total
