"""Scenario files: the shipped ones load; malformed ones give errors that name the field and the fix."""

import textwrap

import pytest

from model.scenario import ScenarioError, available_scenarios, load_scenario


def write(tmp_path, text, name="sc.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_paper_scenarios_load_and_differ_only_in_who_arbitrages():
    sa, one, allarb = (load_scenario(n) for n in ("s-a", "one-arb", "all-arb"))
    assert {"s-a", "one-arb", "all-arb", "s-a-swap", "one-arb-swap", "all-arb-swap"} <= set(available_scenarios())
    assert sa.arbitrage == frozenset() and one.arbitrage == {5} and allarb.arbitrage == set(range(2, 12))
    assert sa.portfolios == one.portfolios == allarb.portfolios
    assert sa.location == {i: i for i in range(2, 12)}
    swap = load_scenario("one-arb-swap")
    assert swap.arbitrage == {5} and swap.location[5] == 9 and swap.location[9] == 5 and swap.location[8] == 10


def test_aggregator_5_holds_the_largest_dispatchable_capacity():
    sc = load_scenario("s-a")
    disp = dict(zip(sc.aggregator_ids, (p.dispatchable_mw for p in sc.portfolios)))
    assert max(disp, key=disp.get) == 5


def test_by_path_and_extends(tmp_path):
    p = write(tmp_path, """
        extends = "s-a"
        name = "mine"
        [grid]
        v_slack_pu = 1.02
    """)
    sc = load_scenario(p)
    assert sc.name == "mine" and sc.grid.v_slack_pu == 1.02 and sc.grid.v_min_pu == 0.95
    assert sc.n_aggregators == 10


@pytest.mark.parametrize(
    "body, message",
    [
        ('extends = "s-a"\nfoo = 1\n', "unknown top-level key(s) ['foo']; valid keys:"),
        ('extends = "s-a"\n[grid]\nv_min = 0.9\n', "[grid] unknown key(s) ['v_min']; valid keys:"),
        ('extends = "s-a"\n[grid]\nv_min_pu = 1.2\n', "[grid].v_min_pu = 1.2 must be > 0 and below v_max_pu = 1.05"),
        ('extends = "s-a"\n[grid]\nv_slack_pu = "high"\n', "[grid].v_slack_pu must be a finite number, got 'high'"),
        ('extends = "s-a"\n[market]\nexport_spread_factor = 1.5\n', "[market].export_spread_factor = 1.5 must be in [0, 1] (paper: 0.9)"),
        ('extends = "s-a"\n[market]\nvoll_eur_mwh = 500\n', "must exceed flex_price_max_eur_mwh"),
        ('extends = "s-a"\n[market]\nlfm_tie_break_eur_mwh = 1.0\n', "[market].lfm_tie_break_eur_mwh = 1.0 must be in [0, 0.001]"),
        ('extends = "s-a"\narbitrage = [5, 42]\n', "arbitrage: [42] are not aggregator ids"),
        ('extends = "s-a"\narbitrage = "some"\n', "must be \"all\", \"none\" or aggregator ids"),
        ('extends = "s-a"\n[location]\nswap = [[5, 12]]\n', "swap [5, 12] must name two aggregator ids"),
        ('extends = "s-a"\n[location]\nbuses = {"5" = 1}\n', "aggregator 5 placed at bus 1; buses must be CIGRE buses 2..11"),
        ('extends = "s-a"\n[data]\nsource = "entsoe"\n', "[data].source = 'entsoe' must be 'offline' or 'synthetic'"),
        ('extends = "nowhere"\n', "unknown scenario 'nowhere': use one of"),
        ('name = "x"\n[grid\n', "not valid TOML"),
        ('name = "x"\n', "no [[aggregators]] tables"),
        (
            'name = "x"\n[[aggregators]]\nid = 2\nload_peak_mw = 1.0\n',
            "[[aggregators]] #1 (id=2): missing field(s) ['dispatchable_mw', 'dispatchable_profile',",
        ),
    ],
)
def test_malformed_scenarios_name_the_field_and_the_fix(tmp_path, body, message):
    p = write(tmp_path, body)
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    assert message in str(e.value)
    assert str(p) in str(e.value) or "unknown scenario" in str(e.value)


def test_negative_capacity_and_bad_profile(tmp_path):
    base = (tmp_path / "base.toml")
    text = open(load_scenario("s-a").source.replace("s-a.toml", "base.toml")).read()
    base.write_text(text.replace("pv_mw = 0.30", "pv_mw = -0.30", 1))
    with pytest.raises(ScenarioError, match=r"aggregator 2: pv_mw = -0.3 must be >= 0"):
        load_scenario(base)
    base.write_text(text.replace('pv_profile = "pv_1"', 'pv_profile = "pv_99"', 1))
    from model.model import LocalMarketModel

    with pytest.raises(ValueError, match=r"'pv_99' is not a profile in the data"):
        LocalMarketModel(scenario=load_scenario(base))


def test_unknown_scenario_name_lists_choices():
    with pytest.raises(ScenarioError, match=r"unknown scenario 's-b': use one of \[.*'s-a'"):
        load_scenario("s-b")


def test_extends_cycle_is_reported(tmp_path):
    write(tmp_path, 'extends = "b.toml"\n', "a.toml")
    write(tmp_path, 'extends = "a.toml"\n', "b.toml")
    with pytest.raises(ScenarioError, match="'extends' forms a cycle"):
        load_scenario(tmp_path / "a.toml")


def test_overrides_are_validated():
    sc = load_scenario("s-a")
    assert sc.with_overrides(arbitrage="5,8").arbitrage == {5, 8}
    with pytest.raises(ScenarioError, match="v_slack_pu = 1.5 must be within"):
        sc.with_overrides(v_slack_pu=1.5)
    with pytest.raises(ScenarioError, match="unknown scenario override"):
        sc.with_overrides(colour="red")


@pytest.mark.parametrize("name, overrides", [
    ("p2p-mmr", {"storage_credit": "hourly", "peak_rho_eur_mwh": 200}),
    ("stackelberg", {"storage_credit": "hourly"}),
    ("p2p-mmr", {"heat_pump_action": "power"}),  # back to the code's default: the table is dropped
    ("stackelberg", {"heat_pump_action": "setpoint"}),  # a table the base scenario does not write
    ("s-a", {"line_limit_factor": 0.8, "arbitrage": "5,8"}),
])
def test_an_overridden_scenario_is_written_as_a_file_that_loads_to_it(tmp_path, name, overrides):
    from model.scenario import scenario_sha256, write_overridden

    path = write_overridden(name, overrides, tmp_path / "o" / "sc.toml")
    loaded, expected = load_scenario(path), load_scenario(name).with_overrides(**overrides)
    assert loaded.name == f"{name}-overridden" and path.read_text().startswith("extends = ")
    assert scenario_sha256(loaded) != scenario_sha256(load_scenario(name))
    label = ("name", "description", "source")
    assert {k: v for k, v in loaded.to_dict().items() if k not in label} == \
        {k: v for k, v in expected.to_dict().items() if k not in label}


def test_the_heat_pump_action_is_a_checked_control_setting(tmp_path):
    """[control].heat_pump: absent = "power", and then not in the fingerprint (runs trained before it stay valid); a
    wrong value is named in a file and as an override; the households' devices get the meaning."""
    from model.model import MarketModel
    from model.scenario import scenario_sha256

    # the Stackelberg scenario at "power" (its setting before stop 53) leaves the section out: the fingerprint of the
    # file from before the section existed, so runs trained before it stay valid
    sc = load_scenario("stackelberg").with_overrides(heat_pump_action="power")
    assert sc.control.heat_pump == "power" and "control" not in sc.to_dict()
    assert scenario_sha256(sc) == "ba3cf9ae4ac54b2b639ca62743cac88d49cce8f21feffb5262ad443c4a9368ea"
    assert sc.with_overrides(heat_pump_action="setpoint").to_dict()["control"] == {"heat_pump": "setpoint"}
    for name in ("stackelberg", "stackelberg-retail", "stackelberg-simultaneous", "stackelberg-small"):  # stop 53
        assert load_scenario(name).control.heat_pump == "setpoint"
    p2p = load_scenario("p2p-mmr")  # the P2P design's scenarios set it (stop 46)
    assert p2p.control.heat_pump == load_scenario("p2p-mmr-nopeak").control.heat_pump == "setpoint"
    assert "control" not in p2p.with_overrides(heat_pump_action="power").to_dict()
    for name in ("p2p-mmr", "stackelberg"):
        with pytest.raises(ScenarioError, match=r"\[control\].heat_pump = 'thermostat' must be one of \['power', 'setpoint'\]"):
            load_scenario(name).with_overrides(heat_pump_action="thermostat")
    path = tmp_path / "sc.toml"
    path.write_text('extends = "p2p-mmr"\n[control]\nheat_pump = "on-off"\n')
    with pytest.raises(ScenarioError, match=r"sc.toml.*\[control\].heat_pump = 'on-off'"):
        load_scenario(path)
    path.write_text('extends = "p2p-mmr"\n[control]\nheat_pumps = "setpoint"\n')
    with pytest.raises(ScenarioError, match="heat_pumps"):
        load_scenario(path)
    for action, meaning in (("power", False), ("setpoint", True)):
        sc = load_scenario("p2p-mmr").with_overrides(n_households=20, heat_pump_action=action)
        assert MarketModel(sc, week="test:1", policy="rule", seed=0).design.params.hp_setpoint_action is meaning


def test_an_override_that_cannot_be_written_as_a_key_is_refused_by_name(tmp_path):
    from model.scenario import write_overridden

    with pytest.raises(ScenarioError, match="battery_share=0.5 changes clusters, which is not a plain value"):
        write_overridden("p2p-mmr", {"battery_share": 0.5}, tmp_path / "sc.toml")
    with pytest.raises(ScenarioError, match="storage_credit = 'weekly'"):
        write_overridden("p2p-mmr", {"storage_credit": "weekly"}, tmp_path / "sc.toml")
    assert not (tmp_path / "sc.toml").exists()
