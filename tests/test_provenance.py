"""Every parameter of the baseline has a provenance (sourced, fitted, or assumed with a
range); docs/parameters.md and the assumptions sweep are what `run.py describe` makes of
it today; `describe` shows each key with its range."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from sim.catalog import BASELINE, SCENARIO_DIR
from sim.cli.main import main
from sim.schema import provenance as prov
from sim.schema.base import ScenarioError
from sim.schema.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
PROVENANCE = SCENARIO_DIR / prov.PROVENANCE_FILE


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(BASELINE)


@pytest.fixture(scope="module")
def rows(baseline):
    return prov.parameter_rows(prov.read_provenance(PROVENANCE), baseline, PROVENANCE)


def _with(tmp_path: Path, change) -> Path:
    """A copy of the shipped provenance file with one change made to its tables."""
    data = tomllib.loads(PROVENANCE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "provenance.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def _rows_of(path: Path, baseline):
    return prov.parameter_rows(prov.read_provenance(path), baseline, path)


def test_every_baseline_leaf_is_a_parameter_with_provenance_or_declared_not_one(baseline, rows):
    table = prov.read_provenance(PROVENANCE)
    keys = {row.key for row in rows}
    for key, _ in prov.leaves(baseline.model_dump()):
        assert key in keys or prov.not_parameter(table, key, baseline), key
    # every partner's and every commodity's fields are covered, not only the globals
    assert "partners.kazakhstan.fdi_stock_bn_usd" in keys
    assert "trade.commodities.cashmere.price_persistence" in keys
    assert "partners.russia.red_lines.railways.hazard_per_year" in keys
    for row in rows:
        entry = row.entry
        if entry.provenance == "assumed":
            assert entry.reason and (entry.range or entry.values), row.key
        if entry.provenance == "sourced":
            assert entry.source, row.key
        if entry.provenance == "fitted":
            assert entry.fitted_to and entry.by, row.key


def test_exact_key_overrides_wildcard_and_fewest_wildcards_win(rows):
    by_key = {row.key: row for row in rows}
    assert by_key["partners.china.transport_cost"].pattern == "partners.china.transport_cost"
    assert by_key["partners.japan.transport_cost"].pattern == "partners.*.transport_cost"
    # a commodity's wildcard (one *) beats the catch-all for light goods (two *)
    assert by_key["partners.germany.demand.coal"].pattern == "partners.*.demand.coal"
    assert by_key["partners.germany.demand.cashmere"].pattern == "partners.*.demand.*"
    assert by_key["partners.japan.demand.coal"].pattern == "partners.japan.demand.coal"
    assert by_key["partners.china.demand.other_minerals"].entry.range == [10.0, 100.0]


def test_a_parameter_without_provenance_fails_naming_file_and_key(tmp_path, baseline):
    path = _with(tmp_path, lambda d: d["parameters"].pop("investment.redirect_share"))
    with pytest.raises(ScenarioError) as err:
        _rows_of(path, baseline)
    assert err.value.key == "investment.redirect_share"
    assert err.value.file == str(path)
    assert "no provenance" in str(err.value)


def test_an_assumed_parameter_without_range_fails(tmp_path):
    path = _with(tmp_path, lambda d: d["parameters"]["investment.offer_noise"].pop("range"))
    with pytest.raises(ScenarioError, match="without a range") as err:
        prov.read_provenance(path)
    assert "investment.offer_noise" in err.value.key


def test_a_range_without_the_baseline_value_fails(tmp_path, baseline):
    def narrow(data):
        data["parameters"]["investment.offer_noise"]["range"] = [0.3, 0.6]  # baseline 0.25

    with pytest.raises(ScenarioError, match="without the value 0.25") as err:
        _rows_of(_with(tmp_path, narrow), baseline)
    assert err.value.key == "investment.offer_noise"


def test_a_range_outside_the_schema_bounds_fails(tmp_path, baseline):
    def wide(data):
        data["parameters"]["investment.redirect_share"]["range"] = [0.0, 1.5]  # a fraction

    with pytest.raises(ScenarioError, match=r"inside the schema's bounds \[0, 1\]"):
        _rows_of(_with(tmp_path, wide), baseline)


def test_a_stale_entry_and_a_missing_source_fail(tmp_path, baseline):
    def stale(data):
        data["parameters"]["partners.mars.transport_cost"] = {
            "provenance": "sourced",
            "source": "F8",
        }

    with pytest.raises(ScenarioError, match="matches no key") as err:
        _rows_of(_with(tmp_path, stale), baseline)
    assert err.value.key == "partners.mars.transport_cost"
    path = _with(tmp_path, lambda d: d["parameters"]["investment.cap.level"].pop("source"))
    with pytest.raises(ScenarioError, match="missing"):
        prov.read_provenance(path)


def test_docs_parameters_md_is_what_describe_generates_now():
    shipped = (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8")
    baseline = load_scenario(BASELINE)
    table = prov.read_provenance(PROVENANCE)
    rows = prov.parameter_rows(table, baseline, PROVENANCE)
    assert shipped == prov.markdown(rows, table, baseline.name, prov.MARKDOWN_COMMAND), (
        f"docs/parameters.md is out of date: run `{prov.MARKDOWN_COMMAND}`"
    )


def test_assumptions_sweep_varies_every_assumed_parameter_over_its_range(rows):
    path = ROOT / "scenarios" / "sweeps" / "assumptions.toml"
    text = path.read_text(encoding="utf-8")
    assert text == prov.assumptions_sweep(rows, prov.SWEEP_COMMAND), (
        f"the assumptions sweep is out of date: run `{prov.SWEEP_COMMAND}`"
    )
    sweep = tomllib.loads(text)
    params = sweep["parameters"]
    assert sweep["sampler"]["method"] == "morris"
    for row in rows:
        if row.entry.provenance == "assumed":
            assert row.key in params, row.key
        if row.entry.range is not None:
            assert [params[row.key]["min"], params[row.key]["max"]] == row.entry.range
        if row.entry.values is not None:
            assert params[row.key]["values"] == row.entry.values
    assert set(params) == {row.key for row in rows if row.varied}


def test_assumptions_sweep_loads_and_every_point_is_a_valid_scenario():
    pytest.importorskip("SALib")
    from sim.experiments.spec import load_sweep

    spec = load_sweep(ROOT / "scenarios" / "sweeps" / "assumptions.toml")
    assert len(spec.keys) == len(tomllib.loads(spec.text)["parameters"])


def test_describe_shows_each_key_with_type_range_unit_and_meaning(capsys):
    assert main(["describe"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("investment.cap.level "))
    assert "float" in line and "(0, 1]" in line and "largest share one origin" in line
    line = next(x for x in out.splitlines() if x.startswith("partners.<name>.fdi_stock_bn_usd"))
    assert "[0, 100]" in line and "bn USD" in line
    assert "kazakhstan       Kazakhstan" in out
    assert "cashmere         not mining" in out


def test_describe_markdown_writes_the_file_and_a_bad_provenance_is_one_line(tmp_path, capsys):
    out = tmp_path / "parameters.md"
    assert main(["describe", "--markdown", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == (ROOT / "docs" / "parameters.md").read_text(
        encoding="utf-8"
    )
    bad = _with(tmp_path, lambda d: d["parameters"].pop("alignment.level"))
    capsys.readouterr()
    assert main(["describe", "--markdown", "--provenance", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "alignment.level" in err and "no provenance" in err
