"""The command line: results folders, bad input and unwritable outputs.

Most tests call ``main([...])`` in this process (a subprocess costs about 2 s of
imports); two subprocess tests keep the ``run.py`` entry itself honest.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

import pandas as pd
import pytest
from conftest import ROOT

from sim.cli import output
from sim.cli.main import main
from sim.model.run import simulate
from sim.schema.scenario import load_scenario

COMMANDS = (
    "run",
    "calibrate",
    "validate",
    "list",
    "compare",
    "sweep",
    "analyze",
    "dashboard",
    "describe",
)


def run_py(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True, cwd=cwd
    )


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """``run.py ARGS`` in this process: exit status, stdout, stderr (argparse's exits too)."""
    try:
        code = main(list(args), prog="run.py")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    """The last stderr line, checked to be a one-line error with no traceback."""
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: "), err
    return line


# --- a run and its folder ------------------------------------------------------------------


@pytest.mark.slow
def test_run_writes_a_complete_results_folder(tmp_path, capsys):
    code, out, err = cli(
        capsys,
        "run",
        "scenarios/baseline.toml",
        "--seed",
        "3",
        "--steps",
        "24",
        "--set",
        "investment.cap.enforcement=strict",
        "--out",
        str(tmp_path),
    )
    assert code == 0, err
    assert "China's share of exports (mean)" in out
    folders = list(tmp_path.iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("baseline-")
    folder = folders[0]
    names = {p.name for p in folder.iterdir()}
    assert {
        "scenario.toml",
        "steps.csv",
        "summary.json",
        "events.txt",
        "export_shares.png",
        "fdi_shares.png",
        "pressure.png",
        "autonomy.png",
    } <= names
    assert not [n for n in names if n.endswith(".part") or "probe" in n]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no probe left
    steps = pd.read_csv(folder / "steps.csv")
    assert len(steps) == 25 and "export_share.china" in steps.columns
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["seed"] == 3 and summary["steps"] == 24
    assert summary["metrics"]["largest_fdi_share_max"] <= 1 / 3 + 1e-9
    for png in ("export_shares.png", "fdi_shares.png"):
        assert (folder / png).read_bytes()[:4] == b"\x89PNG"
    # The resolved scenario reruns to the same numbers on its own.
    again = load_scenario(folder / "scenario.toml")
    assert again.investment.cap.enforcement == "strict" and again.seed == 3
    _, frame = simulate(again, seed=3, steps=24)
    pd.testing.assert_series_equal(
        frame["export_revenue_bn_usd"],
        steps["export_revenue_bn_usd"],
        check_exact=False,
        rtol=1e-12,
    )


def test_a_single_run_says_it_is_one_draw(tmp_path, capsys):
    code, out, err = cli(
        capsys, "run", "baseline", "--steps", "4", "--no-plots", "--out", str(tmp_path)
    )
    assert code == 0, err
    assert "one run is one draw of the model's randomness" in out and "--replications N" in out
    (folder,) = tmp_path.iterdir()
    note = json.loads((folder / "summary.json").read_text())["note"]
    assert "one draw" in note and "--replications" in note


def test_results_folders_are_never_reused(tmp_path):
    a = output.new_results_dir("x", tmp_path)
    b = output.new_results_dir("x", tmp_path)
    assert a != b and a.exists() and b.exists()


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path):
    target = output.write_text(tmp_path / "f.txt", "old")

    def broken(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        output.write_atomic(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_results_go_under_the_current_folder_and_names_work_anywhere(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "run", "whatif/strict_cap", "--steps", "4", "--no-plots")
    assert code == 0, err
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.startswith("strict_cap-") and (folder / "summary.json").is_file()
    # the README's spelling works from any folder too
    code, _, err = cli(capsys, "run", "scenarios/baseline.toml", "--steps", "4", "--no-plots")
    assert code == 0, err
    assert len(list((tmp_path / "results").glob("baseline-*"))) == 1


# --- the run.py entry itself (subprocesses) ----------------------------------------------


def test_help_explains_every_command(capsys):
    result = run_py("--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: run.py ")
    for command in COMMANDS:
        # the command's own line in the list, not the word inside "run.py"
        assert re.search(rf"^    {command}\b", result.stdout, re.MULTILINE), command
    for command in ("run", "calibrate"):
        code, out, _ = cli(capsys, command, "--help")
        assert code == 0 and "--set KEY=VALUE" in out


@pytest.mark.slow
def test_run_py_reports_a_user_error_in_one_line_and_exit_2(tmp_path):
    result = run_py("run", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "file not found" in result.stderr
    assert one_error_line(result.stderr)


# --- bad input: one line, exit 2, nothing run ----------------------------------------------


@pytest.mark.parametrize("replicated", [False, True], ids=["single", "replications"])
@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--seed", "-5", "greater than or equal to 0"),
        ("--seed", str(2**32), "less than or equal to"),
        ("--steps", "2001", "less than or equal to 2000"),
        ("--steps", "0", "greater than or equal to 1"),
    ],
)
def test_seed_and_steps_obey_the_scenario_file_ranges(
    tmp_path, capsys, option, value, expected, replicated
):
    extra = ["--replications", "2", "--workers", "1"] if replicated else []
    args = ["run", "baseline", option, value, "--no-plots", "--out", str(tmp_path), *extra]
    code, out, err = cli(capsys, *args)
    assert code == 2, out + err
    line = one_error_line(err)
    key = option.removeprefix("--")
    assert line.startswith(f"error: {option} {value}: {key}: ") and expected in line
    assert out == "" and list(tmp_path.iterdir()) == []  # refused before running


def test_seed_and_steps_within_range_still_win_over_the_file(tmp_path, capsys):
    code, _, err = cli(
        capsys, "run", "baseline", "--set", "seed=1", "--seed", "9", "--steps", "3",
        "--no-plots", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    (folder,) = tmp_path.iterdir()
    assert load_scenario(folder / "scenario.toml").seed == 9
    assert json.loads((folder / "summary.json").read_text())["steps"] == 3


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--replications", "x"], "argument --replications: expected a positive whole"),
        (["run", "--replications", "0"], "argument --replications: expected a positive whole"),
        (["run", "--seed", "1.5"], "argument --seed: expected a whole number, found '1.5'"),
        (["run", "--steps", "ten"], "argument --steps: expected a whole number"),
        (["calibrate", "--seeds", "many"], "argument --seeds: expected a positive whole"),
        (["compare", "a", "b", "--workers", "-1"], "argument --workers: expected a positive"),
        (["dashboard", "--port", "http"], "argument --port: expected a port from 1 to 65535"),
        (["sweep", "f.toml", "--chunk-runs", "x"], "argument --chunk-runs: expected a positive"),
        (["analyze", "r", "--top", "1e3"], "argument --top: expected a positive whole"),
    ],
)
def test_bad_option_values_are_explained_in_words(capsys, args, expected):
    code, _, err = cli(capsys, *args)
    assert code == 2
    assert expected in err, err
    assert not re.search(r"invalid \w+ value", err), err  # argparse's internal type names


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_shows_percent_signs_once(capsys, command):
    code, out, _ = cli(capsys, *([command] if command else []), "--help")
    assert code == 0 and out
    assert "%%" not in out, out


# --- output folders: checked before the run, late failures say where the files are ------


def test_out_naming_an_existing_file_fails_before_running(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = cli(capsys, "run", "baseline", "--steps", "2", "--out", str(blocker))
    assert code == 2
    assert "is a file" in one_error_line(err)
    assert out == "" and blocker.read_text() == "not a folder"  # no table: nothing ran


def test_out_in_a_folder_that_cannot_be_made_fails_before_running(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for command in (
        ["run", "baseline", "--steps", "2", "--no-plots"],
        ["run", "baseline", "--steps", "2", "--replications", "2", "--workers", "1"],
        ["compare", "baseline", "whatif/strict_cap", "--replications", "2", "--workers", "1"],
    ):
        code, out, err = cli(capsys, *command, "--out", str(blocker / "x"))
        assert code == 2, command
        assert "cannot create a results folder" in one_error_line(err)
        assert out == "", command  # refused before running


def _read_only(monkeypatch, folder):
    """Make file creation in ``folder`` fail as in a read-only folder. Tests run as root
    here, where chmod does not stop writes, so the refusal is injected where every file of
    a results folder is created (a temporary file, then renamed)."""
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own keyword
        if dir is not None and str(dir).startswith(str(folder)):
            raise PermissionError(13, "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def test_a_read_only_results_folder_fails_before_running(tmp_path, capsys, monkeypatch):
    _read_only(monkeypatch, tmp_path)
    code, out, err = cli(capsys, "run", "baseline", "--steps", "2", "--out", str(tmp_path))
    assert code == 2
    assert "Permission denied" in one_error_line(err)
    assert out == "" and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="as root a chmod'ed folder is still writable (see the injected test above)",
)
def test_a_chmod_read_only_results_folder_fails_before_running(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    try:
        code, out, err = cli(capsys, "run", "baseline", "--steps", "2", "--out", str(folder))
    finally:
        folder.chmod(0o700)
    assert code == 2 and "cannot create a results folder" in one_error_line(err)
    assert out == ""


def test_a_write_failure_after_the_run_says_where_the_files_are(tmp_path, capsys, monkeypatch):
    def disk_full(path, figure):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(output, "write_figure", disk_full)
    code, out, err = cli(capsys, "run", "baseline", "--steps", "4", "--out", str(tmp_path))
    assert code == 2
    line = one_error_line(err)
    (folder,) = tmp_path.iterdir()
    assert (
        "No space left on device" in line and f"the files written before it are in {folder}" in line
    )
    # it names the file that failed and lists what was kept (audit: it named neither)
    assert "writing export_shares.png failed" in line and "steps.csv" in line
    assert "China's share of exports" in out  # the table was printed before the failure
    assert (folder / "steps.csv").is_file() and (folder / "summary.json").is_file()


def test_a_first_write_failure_says_no_file_was_written(tmp_path, capsys, monkeypatch):
    """Audit of issue 11: on a full disk the message pointed to files that were not there."""
    from sim.files import write_atomic

    def disk_full(path, write):
        raise OSError(28, "No space left on device", f"{path.parent}/.{path.name}.x1y2.part")

    monkeypatch.setattr(output, "write_atomic", disk_full)
    code, _, err = cli(capsys, "run", "baseline", "--steps", "4", "--out", str(tmp_path))
    assert code == 2 and write_atomic is not disk_full
    line = one_error_line(err)
    assert "writing scenario.toml failed" in line and "no file was written" in line


def test_sweep_out_naming_a_file_fails_before_running(tmp_path, capsys):
    pytest.importorskip("SALib")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    sweep = str(ROOT / "scenarios" / "sweeps" / "cap_grid.toml")
    code, _, err = cli(capsys, "sweep", sweep, "--out", str(blocker), "--no-progress")
    assert code == 2 and "is a file" in one_error_line(err)
    assert blocker.read_text() == "not a folder"


@pytest.mark.slow
def test_calibrate_passes_on_the_baseline_and_fails_when_broken():
    ok = run_py("calibrate", "--seeds", "8")  # the fit's seeds: F5 holds by 0.03, sd 0.10
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "F1 " in ok.stdout and "6 of 6 targets pass" in ok.stdout
    broken = run_py("calibrate", "--seeds", "2", "--set", "partners.china.demand.coal=0.2")
    assert broken.returncode == 1 and "FAIL" in broken.stdout


# --- the README says what a student needs --------------------------------------------------

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_activates_the_environment_before_its_python_commands():
    setup = README.index("python3 -m venv .venv")
    activate = README.index("source .venv/bin/activate")
    first_bare = README.index("\npython run.py")  # a command that needs the venv's python
    assert setup < activate < first_bare


def test_readme_explains_the_words_of_the_tables_and_how_far_to_trust_them():
    for word in ("autonomy index", "effective leverage", "Herfindahl", "over the cap"):
        assert re.search(rf"^- \*\*{re.escape(word)}\*\*", README, re.MULTILINE), word
    trust = README[README.index("## How far to trust it") :]
    trust = trust[: trust.index("\n## ", 1)]
    for needed in (
        "python run.py validate",
        "docs/parameters.md",
        "docs/assumptions.md",
        "data/observed/README.md",
    ):
        assert needed in trust, needed


@pytest.mark.parametrize("readme", ["README.md", "results/README.md"])
def test_readme_links_point_to_files_that_exist(readme):
    path = ROOT / readme
    for target in re.findall(r"\]\(([^)#:]+)\)", path.read_text(encoding="utf-8")):
        assert (path.parent / target).exists(), f"{readme}: {target}"


@pytest.mark.slow
def test_readmes_list_every_file_of_a_replications_run(tmp_path, capsys):
    code, _, err = cli(
        capsys, "run", "baseline", "--steps", "4", "--replications", "2", "--workers", "1",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    (folder,) = tmp_path.iterdir()
    written = {p.name for p in folder.iterdir()}
    results_readme = (ROOT / "results" / "README.md").read_text(encoding="utf-8")
    block = results_readme[results_readme.index("--replications N` folder") :]
    block = block[: block.index("\n\n", block.index("| file"))]
    for name in written:
        assert f"`{name}`" in README, f"README.md does not list {name}"
        assert f"`{name}`" in block or (name.endswith(".png") and "`*.png`" in block), name


@pytest.mark.slow
def test_readme_explains_each_column_compare_prints(tmp_path, capsys):
    code, out, err = cli(
        capsys, "compare", "baseline", "whatif/strict_cap", "--replications", "2",
        "--workers", "1", "--no-plots", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    head = out.splitlines()[1]  # the column titles, after the scenario labels
    for title in ("B - A [90% CI]", "different?"):
        assert title in head
        assert f"- **{title}**" in README, title
    (folder,) = tmp_path.iterdir()
    table = pd.read_csv(folder / "comparison.csv")
    results_readme = (ROOT / "results" / "README.md").read_text(encoding="utf-8")
    for column in ("diff_low", "diff_high", "different", "paired", "bands_overlap"):
        assert column in table.columns and f"`{column}`" in results_readme, column


def test_the_report_draws_the_cap_only_where_a_cap_exists():
    """Issue 11: the history has no cap before the 2010 event; the FDI figure's cap line
    starts there (it was one flat line over 1990-2024)."""
    import numpy as np

    from sim.catalog import resolve_scenario
    from sim.cli.plots import run_figures
    from sim.metrics import model_frame
    from sim.model.run import run_model

    config = load_scenario(resolve_scenario("history_1990_2024"))
    model = run_model(config, seed=1)
    frame = model_frame(model)
    third = [p for p, a in zip(model.partner_ids, model.is_third, strict=True) if a]
    figure = run_figures(frame, third, [])["fdi_shares.png"]
    (line,) = [ln for ln in figure.axes[0].get_lines() if "cap" in str(ln.get_label())]
    years, level = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    assert np.isnan(level[years < 2010]).all()
    assert np.allclose(level[years >= 2010.25], 1 / 3)


@pytest.mark.slow
def test_a_reader_that_leaves_early_gets_no_traceback():
    """`run.py list | head -1` printed a BrokenPipeError traceback (audit)."""
    for _ in range(4):
        child = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "list"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stderr is not None
        child.stdout.read(10)
        child.stdout.close()  # the reader leaves, as head does
        err = child.stderr.read()
        assert child.wait(timeout=60) == 0 and "Traceback" not in err, err


# --- issue 18: messages a new user meets -----------------------------------------------------


def test_a_bad_quarter_names_the_file_its_own_event_and_the_key(tmp_path, capsys):
    """Was: `events.4: found a table; expected at = '2025Q5': a quarter like "2016Q3"`."""
    path = tmp_path / "mine.toml"
    path.write_text(
        f'extends = "{ROOT / "scenarios" / "baseline.toml"}"\n[[events]]\nat = "2025Q5"\n'
        'kind = "partnership"\npartner = "japan"\nlevel = "strategic"\n',
        encoding="utf-8",
    )
    code, _, err = cli(capsys, "run", str(path), "--no-plots", "--out", str(tmp_path))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: {path}: events.0.at: found '2025Q5'; expected a quarter")
    assert "found a table" not in err


def test_a_misspelt_partner_table_suggests_the_partner(tmp_path, capsys):
    """Was: `partners.japn.name: missing`, with no word of Japan."""
    path = tmp_path / "mine.toml"
    path.write_text(
        f'extends = "{ROOT / "scenarios" / "baseline.toml"}"\n[partners.japn]\n'
        'level = "strategic"\n',
        encoding="utf-8",
    )
    code, _, err = cli(capsys, "run", str(path), "--no-plots", "--out", str(tmp_path))
    assert code == 2 and err.count("\n") == 1, err
    assert f"{path}: partners.japn: unknown partner 'japn'; did you mean 'japan'?" in err


@pytest.mark.parametrize("prog", ["third-neighbour", "python -m sim"])
def test_help_examples_use_the_command_that_was_typed(capsys, prog):
    """A wheel install has no run.py: its --help must not tell the user to type it."""
    with pytest.raises(SystemExit):
        main(["--help"], prog=prog)
    out = capsys.readouterr().out
    assert "run.py" not in out and f"  {prog} run scenarios/baseline.toml" in out


@pytest.mark.slow
def test_dashboard_on_a_busy_port_says_so_before_printing_an_address():
    """Was: the page's address first, then 8.6 s later uvicorn's "Address already in use"."""
    import socket

    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "run.py", "dashboard", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert done.stderr.count("\n") == 1 and f"port {port}" in done.stderr
    assert "already in use" in done.stderr and f"--port {port + 1}" in done.stderr
