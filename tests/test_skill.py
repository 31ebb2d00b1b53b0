"""Skill against naive forecasts (issue 17): each naive forecast on a small synthetic series
with a known answer, the error rule, the band coverage and the headline line."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.experiments.skill import covered, headline, interval_error, naive_forecasts, skill_table


def test_naive_forecasts_on_a_straight_line_have_known_values():
    years, values = [2000, 2004, 2008, 2012], [1.0, 2.0, 3.0, 4.0]  # slope 0.25 a year
    drivers = pd.DataFrame(
        {"price": [10.0, 20.0, 30.0, 40.0, 50.0, 90.0], "noise": [1.0, 5.0, 2.0, 7.0, 3.0, 0.0]},
        index=[2000, 2004, 2008, 2012, 2016, 2020],
    )
    got = naive_forecasts(years, values, [2016, 2020], drivers)
    assert got["persistence"] == pytest.approx([4.0, 4.0])
    assert got["trend"] == pytest.approx([5.0, 6.0])
    # y = price / 10 exactly on the calibration years; 4 points allow 2 drivers (n - 2),
    # and the second explains nothing, so the fit is the first driver's line.
    assert got["drivers"] == pytest.approx([5.0, 9.0])


def test_a_short_series_has_no_trend_or_regression_and_shares_are_clipped():
    one = naive_forecasts([2010], [0.9], [2015, 2020])
    assert one["persistence"] == pytest.approx([0.9, 0.9])
    assert np.isnan(one["trend"]).all() and np.isnan(one["drivers"]).all()
    rising = naive_forecasts([2000, 2010], [0.5, 0.9], [2020, 2030], bounded=True)
    assert rising["trend"] == pytest.approx([1.0, 1.0])  # 1.3 and 1.7, clipped
    two_points = pd.DataFrame({"price": [1.0, 2.0, 3.0]}, index=[2000, 2010, 2020])
    assert np.isnan(naive_forecasts([2000, 2010], [1, 2], [2020], two_points)["drivers"]).all()


def test_the_error_is_the_distance_to_the_observed_interval():
    nan = math.nan
    forecast = np.array([0.5, 0.5, 0.5, 0.5])
    value = np.array([0.6, 0.6, 0.6, 0.2])
    low = np.array([nan, 0.55, 0.4, nan])
    high = np.array([nan, 0.7, nan, 0.3])
    # point: 0.1; [0.55, 0.7]: 0.05; lower bound 0.4: 0 (inside); upper bound 0.3: 0.2
    assert interval_error(forecast, value, low, high) == pytest.approx([0.1, 0.05, 0.0, 0.2])
    assert covered(
        np.array([0.4, 0.4, 0.0, 0.35]), np.array([0.58, 0.5, 0.3, 0.5]), value, low, high
    ).tolist() == [False, False, False, False]
    assert covered(np.array([0.55]), np.array([0.65]), value[:1], low[:1], high[:1]).all()


def _table(series: str, years, observed, role, sim_mean, p05, p95) -> pd.DataFrame:
    n = len(years)
    return pd.DataFrame(
        {
            "id": ["T"] * n,
            "series": [series] * n,
            "year": years,
            "date": [""] * n,
            "partner": [""] * n,
            "role": role,
            "observed": observed,
            "low": [math.nan] * n,
            "high": [math.nan] * n,
            "sim_mean": sim_mean,
            "sim_p05": p05,
            "sim_p95": p95,
            "rule": ["about"] * n,
        }
    )


def test_skill_table_scores_the_model_against_the_best_naive_forecast():
    cal, held = "calibration", "held_out"
    # Observed: 1, 2, 3 in the calibration window, then 5 and 7 held out.
    table = _table(
        "exports_total_bn_usd",
        [2004, 2008, 2012, 2016, 2020],
        [1.0, 2.0, 3.0, 5.0, 7.0],
        [cal, cal, cal, held, held],
        [1.0, 2.0, 3.0, 5.5, 6.5],
        [0.0, 1.0, 2.0, 5.0, 5.8],
        [2.0, 3.0, 4.0, 6.0, 6.9],
    )
    skill, lines = skill_table(table, {"exports_total_bn_usd": "bn USD"})
    (row,) = skill.to_dict("records")
    # persistence 3: errors 2 and 4 (MAE 3); trend 4 and 5: errors 1 and 2 (MAE 1.5)
    assert row["mae_persistence"] == pytest.approx(3.0)
    assert row["mae_trend"] == pytest.approx(1.5)
    assert math.isnan(row["mae_drivers"])  # no driver table given
    assert row["best_naive"] == "trend"
    assert row["mae_model"] == pytest.approx(0.5)
    assert row["skill"] == pytest.approx(1 - 0.5 / 1.5)
    assert row["n_years"] == 2 and row["coverage_90"] == pytest.approx(0.5)  # 7 is above [5.8, 6.9]
    assert list(lines["exports_total_bn_usd"].index) == [2016, 2020]
    assert headline(skill, 16) == (
        "skill on 1 of 1 held-out series; band covers 50% of held-out observations "
        "(1 of 2; indicators aside), over 16 replications"
    )


def test_a_model_worse_than_a_flat_line_has_negative_skill():
    table = _table(
        "china_export_share",
        [2010, 2012, 2016, 2020],
        [0.8, 0.8, 0.8, 0.8],
        ["calibration", "calibration", "held_out", "held_out"],
        [0.8, 0.8, 0.5, 0.6],
        [0.7, 0.7, 0.4, 0.5],
        [0.9, 0.9, 0.6, 0.7],
    )
    skill, _ = skill_table(table, {"china_export_share": "share (0-1)"})
    # persistence and trend are exact and the model is not: a loss, never hidden (audit)
    assert skill["skill"].iloc[0] == -math.inf
    assert headline(skill).startswith("skill on 0 of 1 held-out series;")
    tie = table.assign(sim_mean=0.8)
    assert skill_table(tie, {"china_export_share": "share (0-1)"})[0]["skill"].iloc[0] == 0.0
    table.loc[2, "observed"] = 0.7
    skill, _ = skill_table(table, {"china_export_share": "share (0-1)"})
    assert skill["skill"].iloc[0] < 0
    assert headline(skill).startswith("skill on 0 of 1 held-out series")


def _rows(*rows) -> pd.DataFrame:
    """Table rows (series, year, role, observed, low, high, sim_mean, p05, p95, rule)."""
    frame = pd.DataFrame(
        rows,
        columns=[
            "series", "year", "role", "observed", "low", "high",
            "sim_mean", "sim_p05", "sim_p95", "rule",
        ],
    )  # fmt: skip
    return frame.assign(id="T", date="", partner="")


def test_naive_forecasts_use_only_rows_before_the_held_out_years_and_with_a_value():
    nan = math.nan
    table = _rows(
        ("exports_total_bn_usd", 2000, "calibration", 1.0, nan, nan, 1.0, 0.9, 1.1, "about"),
        ("exports_total_bn_usd", 2005, "calibration", 9.0, 9.0, nan, 1.0, 0.9, 1.1, "about"),
        ("exports_total_bn_usd", 2010, "calibration", 2.0, nan, nan, 2.0, 1.9, 2.1, "about"),
        ("exports_total_bn_usd", 2015, "held_out", 3.0, nan, nan, 3.0, 2.9, 3.1, "about"),
        ("exports_total_bn_usd", 2018, "calibration", 50.0, nan, nan, 7.0, 6.0, 8.0, "about"),
    )
    skill, lines = skill_table(table, {"exports_total_bn_usd": "bn USD"})
    # 2005 gives only a bound and 2018 comes after the held-out year: the naive forecasts
    # see 2000 and 2010 alone (persistence 2, trend 1 + 0.1 a year: 2.5 in 2015)
    assert lines["exports_total_bn_usd"].loc[2015, "persistence"] == pytest.approx(2.0)
    assert lines["exports_total_bn_usd"].loc[2015, "trend"] == pytest.approx(2.5)
    assert skill["skill"].iloc[0] == pytest.approx(1.0)


def test_no_model_output_stays_in_the_table_and_indicators_are_read_by_majority():
    nan = math.nan
    table = _rows(
        ("gold_export_share", 2010, "calibration", 0.06, nan, nan, nan, nan, nan, "about"),
        ("gold_export_share", 2016, "held_out", 0.15, nan, nan, nan, nan, nan, "about"),
        ("coal_ahead_of_copper", 2010, "calibration", 1.0, nan, nan, 0.9, 0.0, 1.0, "indicator"),
        ("coal_ahead_of_copper", 2016, "held_out", 0.0, nan, nan, 0.4, 0.0, 1.0, "indicator"),
        ("coal_ahead_of_copper", 2021, "held_out", 0.0, nan, nan, 0.6, 0.0, 1.0, "indicator"),
        ("coal_exports_mt", 2013, "held_out", 17.3, nan, nan, 0.9, 0.8, 1.0, "index/2016 ±0.3"),
    )
    units = {"gold_export_share": "share (0-1)", "coal_ahead_of_copper": "indicator (1 = ...)"}
    skill, _ = skill_table(table, units)
    rows = skill.set_index("series")
    assert "coal_exports_mt" not in rows.index  # an index row is not scored in levels
    assert rows.loc["gold_export_share", "best_naive"] == "no model output"
    assert math.isnan(rows.loc["gold_export_share", "skill"])
    # majority: 0.4 -> 0 (right), 0.6 -> 1 (wrong): MAE 0.5 against persistence's 1.0
    assert rows.loc["coal_ahead_of_copper", "mae_model"] == pytest.approx(0.5)
    assert rows.loc["coal_ahead_of_copper", "skill"] == pytest.approx(0.5)
    assert math.isnan(rows.loc["coal_ahead_of_copper", "coverage_90"])  # a 0/1 band: aside
    assert headline(skill).startswith(
        "skill on 1 of 1 held-out series (1 more not scored: no naive forecast or no model "
        "output); band covers 0% of held-out observations (0 of 1; indicators aside)"
    )
