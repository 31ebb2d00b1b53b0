"""How long one calibrated baseline run takes (140 quarters), and where the time goes.

    python benchmarks/bench_run.py [--repeats N]

Prints the median over repeats of a whole run (model built from the validated
scenario, 140 steps, DataCollector included), the same for an empty Mesa model
with as many agents and reporters (the floor Mesa itself sets), their ratio, the
time per step phase, and the one-off costs (loading the file, building the frame).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import mesa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.catalog import BASELINE  # noqa: E402
from sim.metrics import model_frame  # noqa: E402
from sim.model.model import BalanceModel  # noqa: E402
from sim.schema.scenario import load_scenario  # noqa: E402

STEPS = 140


class _Idle(mesa.Agent):
    pass


class EmptyModel(mesa.Model):
    """Mesa's own cost: the same number of agents and reporters, no behaviour."""

    def __init__(self, agents: int, reporters: int, rng: int = 0) -> None:
        super().__init__(rng=rng)
        for _ in range(agents):
            _Idle(self)
        self.value = 1.0
        self.datacollector = mesa.DataCollector(
            model_reporters={f"r{i}": "value" for i in range(reporters)}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def phase_times(config, repeats: int) -> dict[str, float]:
    """Microseconds per step in each part of BalanceModel.step (same order as step)."""
    phases = {
        "alignment": lambda m: m._align_neighbours(),
        "prices": lambda m: m._move_prices(),
        "new year": lambda m: m._new_year() if m.quarter == 1 and m.steps > 1 else None,
        "trade": lambda m: m._clear_trade(),
        "investment": lambda m: m._invest(),
        "dependence": lambda m: m._measure_dependence(),
        "response": lambda m: m.mongolia.respond_to_pressure(),
        "pressure": lambda m: [n.press() for n in m.neighbours],
        "diplomacy": lambda m: m.mongolia.conduct_diplomacy(),
        "data collection": lambda m: m.datacollector.collect(m),
    }
    total = dict.fromkeys(phases, 0.0)
    for _ in range(repeats):
        model = BalanceModel(config)
        for _ in range(STEPS):
            model.steps += 1
            timeline = getattr(model, "timeline", None)
            if timeline is not None:
                timeline.apply(model)
            for name, phase in phases.items():
                start = time.perf_counter()
                phase(model)
                total[name] += time.perf_counter() - start
    return {name: t / (repeats * STEPS) * 1e6 for name, t in total.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=50, help="runs to take the median of")
    args = parser.parse_args()
    config = load_scenario(BASELINE)
    probe = BalanceModel(config)
    agents = len(probe.agents)
    reporters = len(probe.datacollector.model_reporters)

    def baseline_run() -> None:
        model = BalanceModel(config)
        for _ in range(STEPS):
            model.step()

    def empty_run() -> None:
        model = EmptyModel(agents, reporters)
        for _ in range(STEPS):
            model.step()

    baseline_run()  # warm up imports and caches
    run_ms = median_ms(baseline_run, args.repeats)
    empty_ms = median_ms(empty_run, args.repeats)
    load_ms = median_ms(lambda: load_scenario(BASELINE), 20)
    frame_model = BalanceModel(config)
    for _ in range(STEPS):
        frame_model.step()
    frame_ms = median_ms(lambda: model_frame(frame_model), 20)

    print(
        f"Python {sys.version.split()[0]}, Mesa {mesa.__version__}; "
        f"{agents} agents, {reporters} reporters, {STEPS} steps, median of {args.repeats}"
    )
    print(f"baseline run (build model + {STEPS} steps):  {run_ms:8.2f} ms   goal <= 15 ms")
    print(f"empty Mesa model, same agents/reporters:     {empty_ms:8.2f} ms")
    print(f"ratio baseline / empty:                      {run_ms / empty_ms:8.1f} x")
    print(f"one-off: load and validate baseline.toml:    {load_ms:8.2f} ms")
    print(f"one-off: per-step DataFrame (model_frame):   {frame_ms:8.2f} ms")
    print("\nwhere a step's time goes (microseconds per step):")
    phases = phase_times(config, max(args.repeats // 5, 3))
    total = sum(phases.values())
    for name, micro in phases.items():
        print(f"  {name:<16} {micro:7.1f} us  {micro / total:6.1%}")
    print(f"  {'total':<16} {total:7.1f} us  -> {total * STEPS / 1000:.2f} ms per run")


if __name__ == "__main__":
    main()
