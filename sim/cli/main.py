"""The command line behind run.py, ``python -m sim`` and ``third-neighbour``: parse, then
call into sim.

Every user error (a bad scenario, a bad --set, an output folder that cannot be made, a
missing optional extra) is printed as one clear line and exits with status 2; nothing
here prints a traceback for those. Scenarios are files or shipped names (``baseline``,
``whatif/strict_cap``; see sim/catalog.py), so every command runs from any folder.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sim.schema.base import OutputError, UserError

if TYPE_CHECKING:
    from sim.experiments.fit import FitResult, Plan

DEFAULT_SCENARIO = "baseline"
SCENARIO_HELP = (
    "scenario TOML file or shipped name, e.g. whatif/strict_cap (default: baseline; "
    "see the list command)"
)
# Optional extras: the modules each needs, checked before a command starts.
EXTRAS = {
    "sweep": ("SALib", "scipy", "pyarrow"),
    "dask": ("distributed",),
    "dashboard": ("solara", "solara_assets", "ipyvuetify"),
}


class MissingExtra(UserError):
    """A command needs packages of an optional extra that is not installed."""


EPILOG = """examples:
  python run.py run scenarios/baseline.toml
  python run.py run scenarios/baseline.toml --seed 7 --set investment.cap.enforcement=strict
  python run.py calibrate
  python run.py calibrate --fit --dry-run   # fit scenarios/fit.toml's parameters, write nothing
  python run.py validate                    # the history against observed data, 1990-2024
  python run.py list
  python run.py run scenarios/history_1990_2024.toml --replications 8
  python run.py compare scenarios/baseline.toml scenarios/whatif/strict_cap.toml
  python run.py dashboard                   # live page for a class: http://127.0.0.1:8765/
"""


def command_name(prog: str | None) -> str:
    """What a user types to run us, for examples and hints: ``python run.py`` in the
    checkout, else as started (``third-neighbour``, ``python -m sim``): a wheel has no
    run.py."""
    if not prog or prog == "run.py":
        return "python run.py"
    return prog


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Mongolia between Russia, China and its third neighbours: "
        "an agent-based model (Mesa).",
        epilog=EPILOG.replace("python run.py", command_name(prog)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="run a scenario: summary table, per-step CSV, plots",
        description="Run one scenario and write a results folder "
        "results/<scenario>-<timestamp>/ (never overwritten).",
    )
    run.add_argument(
        "scenario",
        nargs="?",
        default=DEFAULT_SCENARIO,
        help=SCENARIO_HELP,
    )
    _scenario_options(run)
    run.add_argument(
        "--steps",
        type=_whole_number,
        help="quarters to simulate, 1 to 2000 (default: the scenario's steps)",
    )
    run.add_argument(
        "--out",
        metavar="DIR",
        help="parent folder for the results folder (default: results/ in this folder)",
    )
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _replication_options(run)
    run.set_defaults(func=_cmd_run)

    cal = sub.add_parser(
        "calibrate",
        help="compare the simulated baseline with the documented figures (or --fit them)",
        description="Run a scenario over several seeds and check each calibration target "
        "(scenarios/calibration.toml); exit 1 if any target fails. With --fit: fit the "
        "parameters a fit specification names to its calibration targets (never held-out "
        "ones) and write the fitted values, with their source, into its scenario file.",
    )
    cal.add_argument(
        "scenario",
        nargs="?",
        default=None,  # DEFAULT_SCENARIO; None tells --fit that none was given
        help=SCENARIO_HELP,
    )
    cal.add_argument(
        "--seeds", type=_positive, default=None, help="number of seeds to run (default: 8)"
    )
    cal.add_argument(
        "--targets",
        metavar="FILE",
        help="targets file (default: calibration.toml beside the scenario)",
    )
    cal.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key, e.g. investment.cap.leak=0.5 (repeatable)",
    )
    fit = cal.add_argument_group(
        "fitting (--fit; the scenario, targets and seeds come from the specification)"
    )
    fit.add_argument(
        "--fit",
        action="store_true",
        help="fit the specification's parameters to its calibration targets and write them "
        "into its scenario file (and provenance) with a source comment",
    )
    fit.add_argument(
        "--spec",
        metavar="PATH",
        help="fit specification (default: fit.toml among the shipped scenarios, "
        "scenarios/fit.toml)",
    )
    fit.add_argument(
        "--max-evals",
        type=_positive,
        metavar="N",
        help="most objective evaluations, each running every seed (default: the spec's)",
    )
    fit.add_argument("--dry-run", action="store_true", help="fit and report, write nothing")
    fit.add_argument(
        "--identify",
        action="store_true",
        help="after the fit, fix each fitted parameter at two other values (a quarter of "
        "its search range from the fit), refit the others, and report whether the "
        "calibration error tells the values apart (profile likelihood, chi-square 95%%); "
        "writes "
        "results/identify-<timestamp>/identifiability.csv",
    )
    fit.add_argument(
        "--identify-evals",
        type=_positive,
        default=40,
        metavar="N",
        help="most evaluations of each refit of --identify (default: 40)",
    )
    fit.add_argument(
        "--out",
        metavar="DIR",
        help="with --identify: parent folder of its results folder (default: results/)",
    )
    cal.set_defaults(func=_cmd_calibrate)
    _add_validate_command(sub)
    _add_dashboard_command(sub)
    _add_sweep_commands(sub)
    _add_history_commands(sub)
    _add_describe_command(sub)
    return parser


def _scenario_options(parser: argparse.ArgumentParser) -> None:
    # --seed and --steps are applied as overrides of the keys seed and steps, so the
    # command line obeys the file's ranges and fails with the schema's one line.
    parser.add_argument(
        "--seed",
        type=_whole_number,
        help="master random seed, 0 to 4294967295 (default: the scenario's seed)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key, validated like the file, e.g. "
        "trade.transit_fee.china=0.12 (repeatable)",
    )


# argparse names a type function in its message ("invalid _positive value") unless the
# function raises ArgumentTypeError itself: each says what it expected, in words.


def _whole_number(text: str) -> int:
    """Any whole number; its range is the scenario schema's (checked with the file)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None


def _at_least_four(text: str) -> int:
    """Validation reads bands and shares of replications: one or two runs say too little
    (with 2, the F5 indicator flips on a single run)."""
    value = _positive(text)
    if value < 4:
        raise argparse.ArgumentTypeError(f"expected at least 4 replications, found {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, found {text!r}")
    return value


def scenario_path(name_or_path: str) -> Path:
    """A scenario file as given, or the shipped scenario of that name."""
    from sim.catalog import resolve_scenario

    return resolve_scenario(name_or_path)


def require_extra(extra: str, command: str) -> None:
    """Fail in one line, with the command that installs them, if an extra's packages are
    missing: ``run`` needs none, so they are not core dependencies."""
    missing = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(
            f"`{command}` needs the optional '{extra}' packages ({', '.join(missing)} missing); "
            f"in the project's checkout install them with: pip install -e '.[{extra}]' "
            f"(from a wheel: pip install 'WHEEL_FILE[{extra}]')"
        )


def _default_prog() -> str:
    """How the user started us: ``python -m sim`` shows as that, not as __main__.py."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "run.py"
    return "python -m sim" if name == "__main__.py" else name


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    prog = prog or _default_prog()
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    args.invoked = command_name(prog)
    try:
        return args.func(args) or 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ninterrupted: files already written are complete; nothing half-written "
            "was left behind",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:  # `list | head`: the reader left; nothing to report
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stdout is closed at exit
        return 0


def entry() -> None:
    """The ``third-neighbour`` console script."""
    sys.exit(main())


def _cmd_run(args: argparse.Namespace) -> int:
    from sim.cli.report import run_and_report

    if args.replications is not None:
        return _cmd_replicate(args)
    folder = run_and_report(
        scenario_path(args.scenario),
        args.overrides,
        seed=args.seed,
        steps=args.steps,
        out=args.out,
        plots_wanted=not args.no_plots,
    )
    print(f"\nresults: {folder}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.experiments.calibration import calibrate, format_report, load_targets
    from sim.schema.scenario import load_scenario

    if args.fit:
        return _cmd_fit(args)
    only_fit = [
        name
        for name, given in (
            ("--spec", args.spec),
            ("--max-evals", args.max_evals),
            ("--dry-run", args.dry_run),
            ("--identify", args.identify),
            ("--out", args.out),
        )
        if given
    ]
    if only_fit:
        raise UserError(f"calibrate: {', '.join(only_fit)} only with --fit")
    seeds = 8 if args.seeds is None else args.seeds
    path = scenario_path(args.scenario or DEFAULT_SCENARIO)
    config = load_scenario(path, args.overrides)
    targets_path = Path(args.targets) if args.targets else path.parent / "calibration.toml"
    targets = load_targets(targets_path)
    rows = calibrate(config, targets, seeds=seeds)
    print(format_report(rows, config, seeds))
    return 0 if all(row["passed"] for row in rows) else 1


def _identify(plan: Plan, result: FitResult, max_evals: int, out: str | None) -> None:
    """calibrate --fit --identify: profile refits, the table, identifiability.csv."""
    from sim.cli import output
    from sim.cli.report import format_identifiability
    from sim.experiments.executor import ProgressBar
    from sim.experiments.fit import identifiability

    output.check_writable(out)
    refits = 2 * len(plan.spec.parameter)
    print(f"\nidentifiability: {refits} refits of at most {max_evals} evaluations each")
    with ProgressBar(total=refits, desc="identify", unit="refit", leave=False) as bar:

        def progress(key: str, value: float) -> None:
            bar.set_postfix_str(f"{key}={value:.4g}", refresh=False)
            bar.update(1)

        table = identifiability(plan, result, max_evals=max_evals, progress=progress)

    print(format_identifiability(table))
    folder = output.new_results_dir("identify", out)
    with output.partial_output(folder):
        output.write_csv(folder / "identifiability.csv", table)
    print(f"results: {folder}")


def _cmd_fit(args: argparse.Namespace) -> int:
    """calibrate --fit: fit, print before and after, write the scenario and provenance."""
    import datetime

    from sim.catalog import SCENARIO_DIR
    from sim.experiments.executor import ProgressBar
    from sim.experiments.fit import (
        check_provenance,
        fit,
        format_fit,
        load_plan,
        provenance_text_with,
        required_misses,
        scenario_text_with,
        search_settings,
        source_line,
    )
    from sim.files import write_text
    from sim.schema.provenance import MARKDOWN_COMMAND, SWEEP_COMMAND

    given = [
        name
        for name, value in (
            ("a scenario", args.scenario),
            ("--seeds", args.seeds),
            ("--targets", args.targets),
            ("--set", args.overrides),
        )
        if value
    ]
    if given:
        raise UserError(
            f"calibrate --fit: found {', '.join(given)}; the scenario, targets and seeds "
            "come from the fit specification (--spec)"
        )
    require_extra("sweep", "calibrate --fit")  # scipy
    plan = load_plan(Path(args.spec) if args.spec else SCENARIO_DIR / "fit.toml")
    spec = plan.spec
    max_evals = args.max_evals or spec.max_evals
    if not args.dry_run:
        check_provenance(plan)  # a stale provenance file fails now, not after the fit
    checks = plan.validation
    also = ""
    if checks is not None:
        also = (
            f" and {', '.join(t.id for t in checks.targets)} on {checks.scenario_path} "
            f"({checks.seeds} replications, made as `validate` makes them)"
        )
    print(
        f"fitting {len(spec.parameter)} parameter(s) of {plan.scenario_path} to "
        f"{', '.join(spec.targets)} ({spec.seeds} seeds){also} at every point, at most "
        f"{max_evals} evaluations"
    )
    with ProgressBar(total=max_evals, desc="fit", unit="eval", leave=False) as bar:

        def progress(done: int, error: float) -> None:
            bar.update(done - bar.n)
            bar.set_postfix_str(f"fit error {error:.3g}", refresh=False)

        result = fit(
            plan.config,
            plan.targets,
            spec.parameter,
            validation=checks,
            max_evals=max_evals,
            progress=progress,
            **search_settings(spec),
        )
    print(format_fit(result))
    if args.identify:
        _identify(plan, result, args.identify_evals, args.out)
    today = datetime.date.today()
    if args.dry_run:
        print("\ndry run: nothing written")
        return 0
    moved = result.moved
    if not moved:
        print("\nno parameter moved: nothing written")
        return 0
    missed = required_misses(result)
    if missed:
        print(
            "\nnothing written: at the fitted values these required calibration targets "
            f"(documented figures) miss: {', '.join(missed)}. The calibration set asks for "
            "more than these parameters can give; see the table above."
        )
        return 1
    comment = source_line(result, today)
    scenario_text = scenario_text_with(
        plan.scenario_path.read_text(encoding="utf-8"), moved, comment, plan.scenario_path
    )
    provenance_text = None
    if plan.provenance_path is not None:
        provenance_text = provenance_text_with(
            plan.provenance_path.read_text(encoding="utf-8"),
            result,
            moved,
            today,
            plan.provenance_path,
        )
    try:  # both texts are checked before either file is replaced
        write_text(plan.scenario_path, scenario_text)
        print(f"\nwrote {plan.scenario_path}: {', '.join(moved)}  # {comment}")
        kept = [key for key in result.fitted if key not in moved]
        if kept:
            print(f"not moved, left as they were: {', '.join(kept)}")
        if plan.provenance_path is not None and provenance_text is not None:
            write_text(plan.provenance_path, provenance_text)
            print(f"wrote {plan.provenance_path}: those keys are now fitted")
            print(f"regenerate what is made from it:\n  {MARKDOWN_COMMAND}\n  {SWEEP_COMMAND}")
    except OSError as exc:
        raise OutputError(
            f"{exc.filename or plan.scenario_path}: cannot write ({exc.strerror or exc})"
        ) from None
    return 0


# --- dashboard ---------------------------------------------------------------------------


def _add_dashboard_command(sub: argparse._SubParsersAction) -> None:
    dash = sub.add_parser(
        "dashboard",
        help="live dashboard for a class: a page in the browser (Solara)",
        description="Start the live dashboard (sim/app.py) and print its address. It listens "
        "on 127.0.0.1 only, unless --host opens it wider. Ctrl+C stops it.",
    )
    dash.add_argument(
        "scenario",
        nargs="?",
        default=DEFAULT_SCENARIO,
        help="scenario to open first, a TOML file or shipped name (default: baseline); "
        "the page can pick others",
    )
    dash.add_argument("--port", type=_port, default=8765, help="port (default: 8765)")
    dash.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; "
        "0.0.0.0 lets other machines on the network open the page)",
    )
    dash.set_defaults(func=_cmd_dashboard)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, found {text!r}")
    return value


def _check_port_free(host: str, port: int) -> None:
    """One line now if the server could not listen there (another dashboard, most often)."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"dashboard: port {port} on {host} is already in use (another dashboard "
                    f"is running?); stop it, or use another port: --port {port + 1}"
                ) from None
            raise UserError(
                f"dashboard: cannot listen on {host} port {port} ({exc.strerror or exc}); "
                "expected an address of this machine, e.g. --host 127.0.0.1"
            ) from None


def _cmd_dashboard(args: argparse.Namespace) -> int:
    import os
    import signal
    import socket
    import subprocess

    from sim.schema.scenario import load_scenario

    require_extra("dashboard", "dashboard")
    scenario = scenario_path(args.scenario).resolve()
    load_scenario(scenario)  # a bad file fails here, with the same one line as `run`
    _check_port_free(args.host, args.port)  # now, not 8 s later under the page's address
    from sim.app import ENV_SCENARIO  # after the check: importing the page is slow

    app = Path(__file__).resolve().parent.parent / "app.py"  # sim/app.py
    # Offline: no version check or telemetry calls out of the machine.
    env = {
        **os.environ,
        ENV_SCENARIO: str(scenario),
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
        # Solara's "This website runs on Solara" badge covered a corner of a chart.
        "SOLARA_THEME_SHOW_BANNER": "False",
    }
    command = [
        sys.executable,
        "-m",
        "solara",
        "run",
        str(app),
        "--production",
        "--no-check-version",
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    shown = socket.gethostname() if args.host in ("0.0.0.0", "::") else args.host
    if ":" in shown:
        shown = f"[{shown}]"
    print(f"dashboard: http://{shown}:{args.port}/  ({scenario.name}; Ctrl+C to stop)", flush=True)
    child = subprocess.Popen(command, env=env)
    # A plain `kill` of this process must not leave the server running on its own.
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.wait()  # it got the same Ctrl+C; let it shut down cleanly
        print("\ndashboard stopped", file=sys.stderr)
        return 0


# --- sweep and analyze (sim.sweep) ---------------------------------------------------------


def _add_sweep_commands(sub: argparse._SubParsersAction) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="run a parameter sweep (grid, random, LHS, Sobol, Morris) to Parquet",
        description="Run every point of a sweep file, with replications, on local processes "
        "or a Dask cluster. Results go to results/<sweep>-<timestamp>/ (or --out); "
        "running again with the same --out resumes, running only missing runs.",
    )
    sweep.add_argument(
        "sweep_file", metavar="FILE", help="sweep TOML file, e.g. scenarios/sweeps/cap_grid.toml"
    )
    sweep.add_argument(
        "--workers",
        type=_positive,
        help="worker processes (default: all cores; with --scheduler: unused)",
    )
    sweep.add_argument(
        "--backend",
        choices=("local", "dask"),
        default="local",
        help="local processes (default) or Dask (a local cluster, or --scheduler)",
    )
    sweep.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786 "
        "(implies --backend dask)",
    )
    sweep.add_argument(
        "--out", metavar="DIR", help="results folder itself; an existing sweep folder is resumed"
    )
    sweep.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the base scenario, e.g. steps=40 (repeatable)",
    )
    sweep.add_argument(
        "--chunk-runs",
        type=_positive,
        metavar="N",
        help="runs per task (default: about one second of work)",
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.set_defaults(func=_cmd_sweep)

    analyze = sub.add_parser(
        "analyze",
        help="sensitivity indices and plots of a sweep's results",
        description="The analysis the sweep's sampler declares (sim/experiments/samplers.py): "
        "Sobol indices with confidence intervals, Morris mu* and sigma, or main-effect shares "
        "with a noise floor, heatmaps and line plots; CSV and PNG files in "
        "RESULTS_DIR/analysis/.",
    )
    analyze.add_argument("results_dir", metavar="RESULTS_DIR", help="a sweep results folder")
    analyze.add_argument(
        "--top",
        type=_positive,
        default=3,
        help="parameters shown per output in the printed table (default: 3)",
    )
    analyze.add_argument("--no-plots", action="store_true", help="CSV only, no PNG plots")
    analyze.add_argument(
        "--drop-failed-trajectories",
        action="store_true",
        help="morris: leave out each trajectory holding a point with no successful run",
    )
    analyze.set_defaults(func=_cmd_analyze)


def _cmd_sweep(args: argparse.Namespace) -> int:
    require_extra("sweep", "sweep")
    if args.scheduler or args.backend == "dask":
        require_extra("dask", "sweep --backend dask")
    from sim.experiments.executor import ask_one_thread_per_library

    ask_one_thread_per_library()  # before numpy loads: workers are then forked, fast and safe
    from sim.experiments.spec import load_sweep
    from sim.experiments.sweep import SweepInterrupted, run_sweep

    spec = load_sweep(scenario_path(args.sweep_file), args.overrides)
    backend: Literal["local", "dask"] = "dask" if args.scheduler else args.backend

    from sim.cli.output import check_writable, new_results_dir

    # --out, else a new results/<name>-<timestamp>/ made once every point has been checked;
    # either way the place is checked before any run (a file, or a folder we cannot write).
    if args.out:
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise OutputError(f"{args.out}: is a file; --out names the sweep's results folder")
        check_writable(Path(args.out).parent)
    else:
        check_writable()
    folder = Path(args.out) if args.out else new_results_dir
    try:
        outcome = run_sweep(
            spec,
            folder,
            workers=args.workers,
            backend=backend,
            scheduler=args.scheduler,
            chunk_runs=args.chunk_runs,
            progress=not args.no_progress,
        )
    except SweepInterrupted as stop:
        command = " ".join(
            [
                f"{args.invoked} sweep",
                args.sweep_file,
                "--out",
                str(stop.folder),
                *(f"--set {o}" for o in args.overrides),
            ]
        )
        print(
            f"\ninterrupted: {stop.done} of {stop.total} runs saved in {stop.folder}\n"
            f"resume with: {command}",
            file=sys.stderr,
        )
        return 130
    what = "resumed" if outcome.resumed else "ran"
    rate = outcome.ran / outcome.seconds if outcome.seconds > 0 else 0.0
    print(
        f"{what} {outcome.ran} runs in {outcome.seconds:.1f} s ({rate:.1f} runs/s); "
        f"{outcome.total} of {outcome.total} runs in {outcome.folder}"
    )
    if outcome.failed:
        print(f"warning: {outcome.failed} run(s) failed; see the 'error' column", file=sys.stderr)
    if outcome.damaged:
        print(
            f"warning: {len(outcome.damaged)} unreadable chunk file(s) set aside as *.damaged "
            f"and their runs run again ({', '.join(outcome.damaged[:3])})",
            file=sys.stderr,
        )
    print(f"analyze with: {args.invoked} analyze {outcome.folder}")
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    require_extra("sweep", "analyze")
    from sim.cli.report import write_analysis
    from sim.experiments.analysis import analyze

    report = write_analysis(
        analyze(
            Path(args.results_dir),
            top=args.top,
            plots=not args.no_plots,
            drop_failed_trajectories=args.drop_failed_trajectories,
        )
    )
    print(report.table)
    print(f"\nfiles: {report.folder}")
    return 0


# --- replications, compare and list (sim.experiments) ---------------------------------------


def _replication_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replications",
        type=_positive,
        metavar="N",
        help="run N seeds derived from the scenario seed, in parallel; report means and 90%% bands",
    )
    parser.add_argument(
        "--workers", type=_positive, help="worker processes for replications (default: all cores)"
    )


def _add_history_commands(sub: argparse._SubParsersAction) -> None:
    comp = sub.add_parser(
        "compare",
        help="two scenarios side by side: means, 90%% bands, differences",
        description="Run two scenarios over N replications each and print every summary "
        "metric side by side: mean and 90% band of each, the difference of the means "
        "B - A with its 90% confidence interval (paired by seed, else Welch), and "
        "'different? YES' when that interval excludes 0 and the difference is at least 1% "
        "of the metric's scale; then the pressure episodes of each (how many, how long, "
        "how they ended). Overlay plots with bands go to results/compare-A-vs-B-<time>/.",
    )
    comp.add_argument("scenario_a", metavar="A.toml", help="first scenario (A)")
    comp.add_argument("scenario_b", metavar="B.toml", help="second scenario (B)")
    comp.add_argument(
        "--replications",
        type=_positive,
        default=8,
        metavar="N",
        help="replications of each scenario (default: 8)",
    )
    comp.add_argument("--workers", type=_positive, help="worker processes (default: all cores)")
    comp.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key in both scenarios (repeatable)",
    )
    comp.add_argument(
        "--out",
        metavar="DIR",
        help="parent folder for the results folder (default: results/ in this folder)",
    )
    comp.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    comp.add_argument(
        "--wide",
        action="store_true",
        help="every column on one line per metric: each scenario's 90%% band of single runs "
        "and the smallest difference that counts (default: means only, fits 100 columns)",
    )
    comp.set_defaults(func=_cmd_compare)

    lst = sub.add_parser(
        "list",
        help="the shipped scenarios and what-ifs, one line each",
        description="List the shipped scenarios (scenarios/*.toml and "
        "scenarios/whatif/*.toml) with their own descriptions; each runs by that name "
        "from any folder.",
    )
    lst.set_defaults(func=_cmd_list)


def _cmd_replicate(args: argparse.Namespace) -> int:
    from sim.cli.report import replicate_and_report

    folder = replicate_and_report(
        scenario_path(args.scenario),
        args.overrides,
        args.replications,
        seed=args.seed,
        steps=args.steps,
        out=args.out,
        plots_wanted=not args.no_plots,
        workers=args.workers,
    )
    print(f"\nresults: {folder}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from sim.cli.report import compare_and_report

    folder = compare_and_report(
        scenario_path(args.scenario_a),
        scenario_path(args.scenario_b),
        args.replications,
        args.overrides,
        out=args.out,
        plots_wanted=not args.no_plots,
        workers=args.workers,
        wide=args.wide,
    )
    print(f"\nresults: {folder}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from sim.catalog import list_lines

    print("\n".join(list_lines()))
    return 0


# --- validate (sim.experiments.validation) -------------------------------------------------


def _add_validate_command(sub: argparse._SubParsersAction) -> None:
    val = sub.add_parser(
        "validate",
        help="the history against observed data 1990-2024: calibration and held-out targets",
        description="Run the history scenario (and any scenario a target names) over "
        "replications and check every target of data/observed/targets.toml: observed "
        "value and range, simulated mean and 90% band, pass or miss; calibration and "
        "held-out targets in their own sections. Writes results/validate-<timestamp>/ "
        "(table as CSV and Markdown, one plot per series) and skill.csv: skill against "
        "naive forecasts on the held-out years. Exit status 1 when a required calibration "
        "target (a documented figure) misses; misses of calibration-window rows and of "
        "held-out targets are reported, not fatal.",
    )
    val.add_argument(
        "--replications",
        type=_at_least_four,
        default=8,
        metavar="N",
        help="replications of each scenario, at least 4: a band and a share of runs need "
        "several (default: 8)",
    )
    val.add_argument(
        "--targets",
        metavar="FILE",
        help="targets file; the observed CSVs are read beside it "
        "(default: the shipped data/observed/targets.toml)",
    )
    val.add_argument(
        "--out",
        metavar="DIR",
        help="parent folder for the results folder (default: results/ in this folder)",
    )
    val.add_argument("--workers", type=_positive, help="worker processes (default: all cores)")
    val.set_defaults(func=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from sim.cli.report import validate_and_report

    folder, table = validate_and_report(
        Path(args.targets) if args.targets else None,
        args.replications,
        out=args.out,
        workers=args.workers,
    )
    print(f"\nresults: {folder}")
    required = table[table["required"].astype(bool)]
    missed = list(dict.fromkeys(required.loc[~required["pass"].astype(bool), "id"]))
    if missed:
        print(f"exit status 1: required calibration targets missed: {', '.join(missed)}")
    return 1 if missed else 0


# --- describe (sim.schema.provenance) --------------------------------------------------------


def _add_describe_command(sub: argparse._SubParsersAction) -> None:
    desc = sub.add_parser(
        "describe",
        help="every scenario key with type, range, unit and meaning; the parameter table",
        description="Without options: every key of a scenario file with its type, range, "
        "unit and meaning, and the scenario's partners and commodities. --markdown: the "
        "parameter table of docs/parameters.md (value, unit, meaning, provenance from "
        "scenarios/provenance.toml, recorded for the baseline); --sweep: the Morris sweep "
        "of every assumed parameter (scenarios/sweeps/assumptions.toml).",
    )
    desc.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, help=SCENARIO_HELP)
    mode = desc.add_mutually_exclusive_group()
    mode.add_argument(
        "--markdown", action="store_true", help="the parameter table with provenance (Markdown)"
    )
    mode.add_argument(
        "--sweep", action="store_true", help="the assumptions sweep file (Morris, TOML)"
    )
    desc.add_argument(
        "--out", metavar="FILE", help="write to FILE (atomically) instead of printing"
    )
    desc.add_argument(
        "--provenance",
        metavar="FILE",
        help="provenance file (default: the shipped scenarios/provenance.toml)",
    )
    desc.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key (repeatable)",
    )
    desc.set_defaults(func=_cmd_describe)


def _cmd_describe(args: argparse.Namespace) -> int:
    from sim.cli.report import describe

    mode = "markdown" if args.markdown else "sweep" if args.sweep else "schema"
    written = describe(
        scenario_path(args.scenario), args.overrides, mode, args.out, args.provenance
    )
    if written is not None:
        print(f"wrote {written}")
    return 0
