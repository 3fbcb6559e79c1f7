"""The app's views of the household designs without a browser: the page steps `p2p` and
`stackelberg` scenarios and shows each hour's numbers, their controls rebuild the model with the
override, the figures plot the record's values, and a snapshot costs the same at every hour."""

from __future__ import annotations

import ipyvuetify as v
import numpy as np
import pandas as pd
import pytest

from model.designs.p2p import P2PDesign
from model.designs.stackelberg import StackelbergDesign
from model.model import MarketModel
from model.record import Recorder
from runs import results

# the app tests' page helpers, and their fixture that closes the pages a test rendered (`_close_pages`)
from tests.test_app import (  # noqa: F401
    _close_pages, alerts, describes, drawn_images, hour_text, render_page, step, texts, wait_for,
)
from visualization.designs import households as hh
from visualization.designs import p2p, stackelberg, views_for
from visualization.session import take_snapshot

DESIGNS = {"p2p": (P2PDesign, p2p), "stackelberg": (StackelbergDesign, stackelberg)}


def show_scenario(rc, scenario: str, policy: str = "rule"):
    """Pick `scenario` in the page's Scenario control; wait until its model is built."""
    rc.find(v.Select, label="Scenario").widget.v_model = scenario
    wait_for(lambda: describes(rc, f"scenario {scenario}, policy {policy}") and hour_text(rc) == "Hour 0 of 168")


def choose(rc, label: str, text: str, scenario: str, policy: str = "rule"):
    """Choose `text` in the design control `label`; wait until the new model is built."""
    rc.find(v.Select, label=label).widget.v_model = text
    wait_for(lambda: rc.find(v.Select, label=label).widget.v_model == text
             and describes(rc, f"scenario {scenario}, policy {policy}") and hour_text(rc) == "Hour 0 of 168")


def status_after(model, views, hours: int) -> list[list[str]]:
    """The status line a page shows after each of `hours` steps of `model`."""
    out = []
    for _ in range(hours):
        model.step()
        out.append(views.status(take_snapshot(model, views, "test:1")))
    return out


def assert_page_status(rc, expected: list[list[str]]):
    for hour, status in enumerate(expected, start=1):
        step(rc, hour)
        wait_for(lambda status=status: texts(rc, "lm-status") == status)  # another thread may be rendering it
    assert hour_text(rc).startswith(f"Hour {len(expected)} of 168 (last cleared: Mon 01 Jan {len(expected) - 1:02d}:00 CET")


# --- the page --------------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario, design", [("p2p-mmr", "p2p"), ("stackelberg", "stackelberg")])
def test_page_steps_a_household_design_and_shows_each_hours_numbers_and_figures(scenario, design):
    cls, views = DESIGNS[design]
    rc = render_page()
    show_scenario(rc, scenario)
    wait_for(lambda: rc.find(v.Html, children=[views.TITLE]).widget is not None)
    assert rc.find(v.Select, label="Policy").widget.items[:3] == list(cls.policies)
    assert rc.find(v.Select, label="Location swap").widgets == []  # the arbitrage design's control is gone
    before = drawn_images(rc)
    assert len(before) == 3  # prices, community/aggregator, clusters
    expected = status_after(MarketModel(scenario=scenario, week="test:1", policy="rule", seed=0), views, 3)
    assert expected[0] != expected[2]
    assert_page_status(rc, expected)
    drawn = drawn_images(rc)
    assert len(drawn) == 3 and all(a != b for a, b in zip(drawn, before)) and alerts(rc) == []
    rc.find(v.BtnToggle).widget.v_model = 1  # the clusters' second quantity: only that figure redraws
    shown = drawn_images(rc)
    assert [a != b for a, b in zip(drawn, shown)] == [False, False, True]


def test_p2p_controls_rebuild_the_model_with_their_overrides():
    rc = render_page()
    show_scenario(rc, "p2p-mmr")
    assert rc.find(v.Select, label="P2P platform").widget.items == [hh.AS_SCENARIO, "on (MMR prices)",
                                                                     "off (grid tariffs)"]
    choose(rc, "P2P platform", "off (grid tariffs)", "p2p-mmr")
    choose(rc, "Peak penalty", "none", "p2p-mmr")
    choose(rc, "Households", "50", "p2p-mmr")
    reference = MarketModel(scenario="p2p-mmr", week="test:1", policy="rule", seed=0, p2p="false",
                            peak_penalty="none", n_households=50)
    expected = status_after(reference, p2p, 2)
    x = reference.hour_result.inputs  # without the platform, households trade at the tariffs
    assert expected[-1][0] == f"buy / sell at the tariffs (no platform): {x.import_eur_mwh:.2f} / {x.export_eur_mwh:.2f} €/MWh"
    assert expected[-1][3] == "peak penalty: none"
    assert_page_status(rc, expected)
    choose(rc, "Households", hh.AS_SCENARIO, "p2p-mmr")  # the scenario's own 300 again, the rest kept
    default = MarketModel(scenario="p2p-mmr", week="test:1", policy="rule", seed=0, p2p="false", peak_penalty="none")
    assert_page_status(rc, status_after(default, p2p, 1))
    assert alerts(rc) == []


def test_stackelberg_controls_rebuild_the_model_with_their_overrides():
    rc = render_page()
    show_scenario(rc, "stackelberg")
    choose(rc, "Moves", "simultaneous (last hour's prices)", "stackelberg")
    choose(rc, "P2P auction", "off (retail only)", "stackelberg")
    reference = MarketModel(scenario="stackelberg", week="test:1", policy="rule", seed=0, visible="false",
                            auction="false")
    expected = status_after(reference, stackelberg, 2)
    assert [s[2] for s in expected] == ["auction: off (retail only)"] * 2
    assert_page_status(rc, expected)
    choose(rc, "P2P auction", hh.AS_SCENARIO, "stackelberg")
    expected = status_after(MarketModel(scenario="stackelberg", week="test:1", policy="rule", seed=0, visible="false"),
                            stackelberg, 1)
    assert expected[0][2] != "auction: off (retail only)"
    assert_page_status(rc, expected)


# --- the views -------------------------------------------------------------------------------------

def test_each_household_design_names_its_views():
    for cls, views in DESIGNS.values():
        assert views_for(cls) is views
        assert all(hasattr(views, part) for part in ("TITLE", "clock", "Controls"))  # the optional parts too


def _lines(ax) -> dict[str, np.ndarray]:
    return {line.get_label(): np.asarray(line.get_ydata(), float) for line in ax.get_lines() if
            not line.get_label().startswith("_")}


def _heights(ax, n: int) -> np.ndarray:
    return np.array([p.get_height() for p in ax.patches[:n]])


def _cluster_means(model, column: str, device: str = "all") -> np.ndarray:
    """(hours, K) per cluster and hour: the mean of a households column, from the record's frame."""
    d = model.design
    has = {"all": np.ones(d.n, bool), "battery": d.sizes["battery_kwh"] > 0, "ev": d.sizes["ev_kwh"] > 0,
           "heat_pump": d.sizes["hp_kw"] > 0}[device]
    frame = model.record.frame("households", ("hour", "household", "cluster", column))
    frame = frame[has[frame.household.to_numpy()]]
    table = frame.groupby(["hour", "cluster"])[column].mean().unstack()
    return table.reindex(columns=range(len(d.cluster_names))).to_numpy()


def test_p2p_figures_plot_the_records_values():
    model = MarketModel(scenario="p2p-mmr", week="test:1", policy="rule", seed=0)
    model.run_hours(30)
    snap = take_snapshot(model, p2p, "test:1")
    community = model.record.frame("community")
    prices = _lines(p2p.PricePainter(snap.detail.pop).draw(snap).axes[0])
    assert list(prices) == [label for _, label, _ in p2p.PRICE_LINES]
    for col, label, _ in p2p.PRICE_LINES:
        assert np.array_equal(prices[label], community[col])
    fig = p2p.CommunityPainter(snap.detail.pop).draw(snap)
    power = _lines(fig.axes[0])
    for col, label, _ in p2p.POWER_LINES:
        assert np.array_equal(power[label], community[col])
    assert np.allclose(power["penalty threshold"], 1.0 * 300)  # p2p-mmr: 1 kW per household
    assert np.array_equal(_heights(fig.axes[1], 30), community.peak_penalty_eur) and community.peak_penalty_eur.max() > 0

    clusters = hh.ClusterPainter(snap.detail.pop, p2p.CLUSTER_VIEWS)
    for label, column, device, scale in (("net position", "net_kw", "all", 1), ("battery SOC", "battery_soc", "battery", 100),
                                         ("EV energy", "ev_energy_kwh", "ev", 1), ("indoor temperature", "t_in_c", "heat_pump", 1)):
        ax = clusters.draw(snap, label).axes[0]
        drawn = np.column_stack([line.get_ydata() for line in ax.get_lines()[:4]])
        assert np.allclose(drawn, scale * _cluster_means(model, column, device), equal_nan=True), label
    legend = [t.get_text() for t in ax.get_legend().get_texts()]  # indoor temperature: only the heat-pump cluster
    assert legend == ["pv-battery (90): no heat pump", "pv-ev (75): no heat pump", "heat-pump (75)",
                      "passive (60): no heat pump", "comfort band (mean)"]
    hh_frame = model.record.frame("households")
    hh_frame["cost"] = hh_frame.bill_eur + hh_frame.peak_penalty_eur + hh_frame.device_penalty_eur - hh_frame.storage_value_eur
    expected = hh_frame.groupby(["hour", "cluster"]).cost.mean().unstack().cumsum().to_numpy()
    ax = clusters.draw(snap, "cost so far").axes[0]
    assert np.allclose(np.column_stack([line.get_ydata() for line in ax.get_lines()[:4]]), expected)


def test_stackelberg_figures_plot_the_records_values():
    model = MarketModel(scenario="stackelberg", week="test:1", policy="random", seed=0)
    model.run_hours(30)
    snap = take_snapshot(model, stackelberg, "test:1")
    community = model.record.frame("community")
    fig = stackelberg.PricePainter(snap.detail.pop).draw(snap)
    prices = _lines(fig.axes[0])
    assert list(prices) == [label for _, label, _ in stackelberg.PRICE_LINES]
    for col, label, _ in stackelberg.PRICE_LINES:
        assert np.array_equal(prices[label], community[col], equal_nan=True)
    assert np.array_equal(_heights(fig.axes[1], 30), community.auction_volume_kwh)
    fig = stackelberg.AggregatorPainter(snap.detail.pop).draw(snap)
    position = _lines(fig.axes[0])
    assert np.array_equal(position["community residual"], community.residual_kw)
    assert np.array_equal(position["day-ahead position"], community.da_position_kw)
    assert np.allclose(_heights(fig.axes[0], 30), community.da_position_kw - community.residual_kw)  # + = long
    money = _lines(fig.axes[1])
    assert np.allclose(money["profit"], community.leader_profit_eur.cumsum())
    assert fig.axes[1].get_title() == f"Profit since the week began: {community.leader_profit_eur.sum():,.2f} €"

    clusters = hh.ClusterPainter(snap.detail.pop, stackelberg.CLUSTER_VIEWS, "followers")
    ax = clusters.draw(snap, "limit price").axes[0]
    drawn = np.column_stack([line.get_ydata() for line in ax.get_lines()[:4]])
    assert np.allclose(drawn, _cluster_means(model, "limit_price_eur_mwh"))
    frame = model.record.frame("households")
    frame["cost"] = frame.auction_eur + frame.retail_eur + frame.device_penalty_eur - frame.storage_value_eur
    ax = clusters.draw(snap, "cost so far").axes[0]
    assert np.allclose(np.column_stack([line.get_ydata() for line in ax.get_lines()[:4]]),
                       frame.groupby(["hour", "cluster"]).cost.mean().unstack().cumsum().to_numpy())


def test_stackelberg_status_names_the_hours_auction_and_the_aggregators_numbers():
    model = MarketModel(scenario="stackelberg", week="test:1", policy="random", seed=0)
    for _ in range(12):
        model.step()
        h, line = model.hour_result, stackelberg.status(take_snapshot(model, stackelberg, "test:1"))
        a = h.auction
        assert line[0] == f"retail buy / sell: {h.retail.buy_eur_mwh:.2f} / {h.retail.sell_eur_mwh:.2f} €/MWh"
        if a.auction.volume_kwh > 0:
            assert line[2] == f"auction: {a.auction.price_eur_mwh:.2f} €/MWh, {a.auction.volume_kwh:,.1f} kWh"
        else:
            assert line[2] == "auction: no trade"
        assert line[3] == f"imbalance: {a.imbalance_kw:+,.1f} kW ({'long' if a.imbalance_kw > 0 else 'short'})"
        assert line[4] == f"leader profit: {a.leader_profit_eur:.2f} €"
        assert line[3] != "imbalance: 0.0 kW (balanced)"  # random positions: never balanced to 50 W


@pytest.mark.parametrize("scenario, design", [("p2p-mmr", "p2p"), ("stackelberg", "stackelberg")])
def test_snapshot_cost_does_not_grow_with_the_hour(monkeypatch, scenario, design):
    """A snapshot references the record's columns (no copy, no `record.frame`) and the population
    (made once per model), so it costs the same at hour 1 and hour 167."""
    def no_frames(self, *a, **k):
        raise AssertionError("take_snapshot must not rebuild tables (Recorder.frame)")

    views = DESIGNS[design][1]
    model = MarketModel(scenario=scenario, week="test:1", policy="rule", seed=0)
    monkeypatch.setattr(Recorder, "frame", no_frames)
    monkeypatch.setattr(results, "tables", no_frames)
    pops = set()
    for hours in (1, 167):
        model.run_hours(hours - model.hours_done)
        d = take_snapshot(model, views, "test:1").detail
        arrays = [*d.community.values(), *d.households.values()]
        assert all(not a.flags.owndata and not a.flags.writeable for a in arrays)
        assert all(np.shares_memory(a, model.record.column("community", c)) for c, a in d.community.items())
        assert len(d.community["import_tariff_eur_mwh"]) == hours
        assert len(d.households["net_kw"]) == hours * model.design.n
        pops.add(d.pop)
    assert len(pops) == 1


def test_cluster_means_average_over_the_households_with_the_device():
    model = MarketModel(scenario="p2p-mmr", week="test:1", policy="rule", seed=0, n_households=50)
    model.run_hours(5)
    snap = take_snapshot(model, p2p, "test:1")
    pop = snap.detail.pop
    assert pop.n == 50 and pop.counts.sum() == 50 and pop.cluster_names == model.design.cluster_names
    soc = hh.cluster_means(snap, hh.household_rows(snap, "battery_soc"), "battery")
    frame = pd.DataFrame({"soc": model.record.column("households", "battery_soc"),
                          "cluster": np.tile(model.design.cluster, 5),
                          "battery": np.tile(model.design.sizes["battery_kwh"] > 0, 5),
                          "hour": np.repeat(np.arange(5), 50)})
    expected = frame[frame.battery].groupby(["hour", "cluster"]).soc.mean().unstack()
    assert np.allclose(soc[:, expected.columns], expected.to_numpy())
    assert np.isnan(np.delete(soc, expected.columns, axis=1)).all()  # no battery in those clusters


def test_the_policy_control_offers_only_the_runs_trained_for_the_design(tmp_path):
    import json

    from model.designs.p2p import P2PDesign
    from model.designs.stackelberg import StackelbergDesign
    from visualization.session import TRAINED_PREFIX, policy_options

    for name, meta in (("p2p-run", {"design": "p2p"}), ("stk-run", {"design": "stackelberg"}), ("old-run", {})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "policy.json").write_text(json.dumps(meta))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "policy.json").write_text("{not json")
    runs = lambda design: [o.rsplit("/", 1)[-1] for o in policy_options(design, [tmp_path]) if o.startswith(TRAINED_PREFIX)]  # noqa: E731
    assert runs(P2PDesign) == ["broken", "p2p-run"]  # an unreadable run is shown rather than hidden
    assert runs(StackelbergDesign) == ["broken", "stk-run"]
    assert policy_options(P2PDesign, [tmp_path])[:3] == ["rule", "passive", "random"]
