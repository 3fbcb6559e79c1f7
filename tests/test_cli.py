"""`localmarl simulate | bench | flex-share` end to end, through the console entry point."""

import json

import pandas as pd
import pytest

from runs.cli import main


def test_simulate_writes_tidy_tables_and_config(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--scenario", "s-a", "--week", "test:1", "--policy", "truthful", "--out", str(out)]) == 0
    buses = pd.read_csv(out / "buses.csv")
    aggs = pd.read_csv(out / "aggregators.csv")
    market = pd.read_csv(out / "market.csv")
    assert list(buses.columns) == ["hour", "bus", "p_sched_mw", "p_mw", "q_mvar", "v_pu", "dlmp_eur_mwh", "up_mw", "down_mw"]
    assert list(aggs.columns)[:8] == ["hour", "aggregator", "bus", "lem_cost_eur", "lfm_cost_eur", "bm_cost_eur", "r1", "r2"]
    assert list(market.columns)[:8] == [
        "hour", "week", "hour_of_week", "lem_price_eur_mwh", "import_price_eur_mwh", "export_price_eur_mwh",
        "imb_long_eur_mwh", "imb_short_eur_mwh",
    ]
    assert {"lfm_cost_eur", "slack_mw"} <= set(market.columns)
    assert len(buses) == 168 * 11 and len(aggs) == 168 * 10 and len(market) == 168
    # p_mw is the final injection: the slack bus balances the feeder (lossless LinDistFlow)
    per_hour = buses.groupby("hour")["p_mw"].sum()
    assert per_hour.abs().max() < 1e-4  # CSVs carry 9 significant digits
    # DSO payments in market.csv equal the DLMP-weighted flexibility per bus
    paid = (buses["dlmp_eur_mwh"] * (buses["up_mw"] - buses["down_mw"])).groupby(buses["hour"]).sum()
    assert (paid.values - market["lfm_cost_eur"].values).__abs__().max() < 1e-3
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["scenario"]["name"] == "s-a" and cfg["versions"]["numpy"] and cfg["data"]["source"] == "offline"
    assert "hours the LFM bought flex" in capsys.readouterr().out


def test_simulate_override_plays_the_changed_scenario_and_a_bad_name_writes_nothing(tmp_path, capsys):
    """--override simulates as a scenario file saying the same would (a tighter voltage band: the DSO
    buys more flexibility than on the plain scenario), is recorded in config.json, and a bad name exits 2."""
    out, plain, via_file = tmp_path / "tight", tmp_path / "plain", tmp_path / "file"
    assert main(["simulate", "--out", str(out), "--override", "v_min_pu=0.96"]) == 0
    assert main(["simulate", "--out", str(plain)]) == 0
    changed = tmp_path / "tight.toml"
    changed.write_text('extends = "s-a"\nname = "tight"\n\n[grid]\nv_min_pu = 0.96\n')
    assert main(["simulate", "--scenario", str(changed), "--out", str(via_file)]) == 0
    got, want = pd.read_csv(out / "market.csv"), pd.read_csv(via_file / "market.csv")
    pd.testing.assert_frame_equal(got, want)
    assert got.lfm_cost_eur.sum() > pd.read_csv(plain / "market.csv").lfm_cost_eur.sum() + 1.0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["scenario"]["grid"]["v_min_pu"] == 0.96 and cfg["args"]["override"] == {"v_min_pu": 0.96}
    capsys.readouterr()
    assert main(["simulate", "--out", str(tmp_path / "bad"), "--override", "no_such_key=1"]) == 2
    assert "no_such_key" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_simulate_refuses_to_overwrite_and_bad_input_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "sim"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["simulate", "--week", "test:1", "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"
    bad = tmp_path / "bad"
    assert main(["simulate", "--scenario", "nowhere", "--out", str(bad)]) == 2
    assert "unknown scenario 'nowhere'" in capsys.readouterr().err
    assert main(["simulate", "--week", "test:13", "--out", str(bad)]) == 2
    assert "test" in capsys.readouterr().err
    assert not bad.exists() and not list(tmp_path.glob(".bad*"))


def test_bench_json_reports_speed_side_by_side(capsys):
    assert main(["bench", "--json", "--repeats", "1"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("fast_ms_per_hour", "reference_ms_per_hour", "speedup", "max_objective_gap_eur"):
        assert key in result
    assert result["hours"] == 168 and result["max_objective_gap_eur"] < 1e-3
    assert result["speedup"] == pytest.approx(result["reference_ms_per_hour"] / result["fast_ms_per_hour"], rel=0.01)


def test_bench_training_names_a_bad_hyperparameter(capsys):
    assert main(["bench", "--training", "--set", "gama=0"]) == 2
    err = capsys.readouterr().err
    assert "--set 'gama=0'" in err and "gamma" in err  # names the typo and lists the valid names


def test_bench_training_measures_a_profile_beside_the_paper_defaults(capsys, monkeypatch):
    import runs.train

    monkeypatch.setattr(runs.train, "BENCH_EPISODES", 1)
    assert main(["bench", "--training", "--profile", "quick", "--rounds", "3", "--set", "batch_size=16", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    paper, quick = result["paper_market_hours_per_s_rounds"], result["quick_market_hours_per_s_rounds"]
    assert len(paper) == len(quick) == 3 and result["episodes_per_round"] == 1
    assert result["paper_market_hours_per_s"] == sorted(paper)[1] and result["quick_market_hours_per_s"] == sorted(quick)[1]
    assert result["quick_over_paper"] == pytest.approx(sorted(quick)[1] / sorted(paper)[1], abs=1e-3)
    overrides = json.loads(result["quick_hp_overrides"])  # the profile's own, with --set on top of both
    assert overrides["updates_per_episode"] == 20 and overrides["gamma"] == 0.0 and overrides["batch_size"] == 16
    assert "batch_size=16" in result["paper_hyperparams"]


def test_bench_training_profile_errors_name_the_fix(capsys):
    assert main(["bench", "--training", "--profile", "fast"]) == 2
    assert "unknown study profile 'fast'" in capsys.readouterr().err
    assert main(["bench", "--profile", "quick"]) == 2
    assert "add --training" in capsys.readouterr().err
    assert main(["bench", "--training", "--profile", "quick", "--scenario", "p2p-mmr"]) == 2
    assert "--profile and --rounds are for the arbitrage design" in capsys.readouterr().err
    assert main(["bench", "--rounds", "3"]) == 2
    assert "--rounds repeats the training bench: add --training" in capsys.readouterr().err
    assert main(["bench", "--training", "--profile", "paper"]) == 2  # nothing to compare: same settings twice
    err = capsys.readouterr().err
    assert "trains with the paper defaults" in err and "bench --training --rounds K" in err


def test_bench_training_rounds_without_a_profile_print_the_median(capsys, monkeypatch):
    import runs.train

    monkeypatch.setattr(runs.train, "BENCH_EPISODES", 1)
    assert main(["bench", "--training", "--rounds", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rounds = result["market_hours_per_s_rounds"]
    assert result["rounds"] == 3 and len(rounds) == 3 and result["market_hours_per_s"] == sorted(rounds)[1]
    assert result["episodes"] == 1 and "paper defaults" in result["hyperparams"]
    assert main(["bench", "--training", "--json"]) == 0  # one round by default, as before: no rounds keys
    single = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "rounds" not in single and "market_hours_per_s_rounds" not in single and single["market_hours_per_s"] > 0


def test_bench_training_measures_devices_side_by_side_alternating(capsys, monkeypatch):
    """`bench --training --device cpu,cuda`: each round measures every device in turn; medians per device and the
    ratio to the first. The wiring, with the measurement replaced (a GPU run is in tests/test_cuda.py and the docs)."""
    import torch

    import runs.train

    calls = []
    rates = iter([100.0, 40.0, 120.0, 50.0, 90.0, 60.0])

    def one(scenario, hp, episodes, device="cpu"):
        calls.append(device)
        r = next(rates)
        return {"market_hours_per_s": r, "clearing_and_acting_ms_per_hour": 1.0, "acting_ms_per_hour": 0.1,
                "learning_ms_per_hour": 0.5, "projected_5000_episode_run_min": 1000 / r, "scenario": "s-a", "learner": "hmaddpg"}

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(runs.train, "_bench_one", one)
    monkeypatch.setattr(runs.train, "device_label", lambda d: f"{d} (label)")
    assert main(["bench", "--training", "--device", "cpu,cuda", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert calls == ["cpu", "cuda"] * 3
    assert result["cpu_market_hours_per_s_rounds"] == [100.0, 120.0, 90.0] and result["cpu_market_hours_per_s"] == 100.0
    assert result["cuda_market_hours_per_s_rounds"] == [40.0, 50.0, 60.0] and result["cuda_market_hours_per_s"] == 50.0
    assert result["cuda_over_cpu"] == 0.5 and result["device"] == "cpu (label), cuda (label)"


def test_household_bench_compares_devices_at_each_population_alternating(monkeypatch):
    import runs.benches.households as hh

    calls = []
    rate = {"cpu": 100, "cuda": 50}

    def training(scenario, hp, n, config, device):
        calls.append((n, device))
        return {"training_household_hours_per_s": rate[device] * n * (1 + len(calls) % 3)}

    monkeypatch.setattr(hh, "env_and_training", training)
    out = hh.devices_side_by_side("p2p-mmr", None, ["cpu", "cuda"], (300, 3000))
    assert calls == [(300, "cpu"), (300, "cuda")] * 3 + [(3000, "cpu"), (3000, "cuda")] * 3
    assert out["cpu_training_household_hours_per_s_300_rounds"] == [60000, 30000, 90000]
    assert out["cpu_training_household_hours_per_s_300"] == 60000 and out["cuda_training_household_hours_per_s_300"] == 30000
    assert out["cuda_over_cpu_300"] == 0.5 and out["cuda_over_cpu_3000"] == 0.5


def test_bench_device_errors_name_the_fix(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["bench", "--training", "--device", "cpu,tpu"]) == 2
    assert "--device 'tpu': use cpu, cuda (cuda:N) or auto" in capsys.readouterr().err
    assert main(["bench", "--scenario", "p2p-mmr", "--device", "cpu,cuda"]) == 2
    assert "CUDA is not available here; use --device cpu or auto" in capsys.readouterr().err
    assert main(["bench", "--training", "--device", ","]) == 2
    assert "name a device" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert main(["bench", "--training", "--profile", "quick", "--device", "cpu,cuda"]) == 2
    assert "give one of them" in capsys.readouterr().err
    assert main(["bench", "--device", "cuda"]) == 2
    assert "the clearing bench learns nothing" in capsys.readouterr().err


def test_bench_measures_the_stackelberg_learner_with_its_learner_config(capsys, monkeypatch):
    """`localmarl bench --scenario stackelberg --learner-config NAME=VALUE`: the learner the bench trains
    is built with the setting (and says so); a bad value or a design without settings is refused by name."""
    import runs.benches.households as hh
    import runs.benches.stackelberg as sb

    seen = {}
    real = hh.env_and_training

    def small(scenario, hp, n=None, config=None, device="cpu"):  # 10 followers, one day: the wiring, not the speed
        seen["training"] = config
        return real(scenario, hp, 10, config, device)

    def scaling(scenario, hp, sizes, config=None):
        seen["scaling"] = config
        return {}

    from agents.learning.team import Team

    variants = []  # the training part stores each hour as training does: with the design's counterfactual limit prices
    store = Team.household_counterfactuals
    monkeypatch.setattr(Team, "household_counterfactuals",
                        lambda self, model, hour, last: variants.append(last) or store(self, model, hour, last))
    monkeypatch.setattr(hh, "DAYS", 1)
    monkeypatch.setattr(hh, "env_and_training", small)
    monkeypatch.setattr(hh, "reference", lambda *a, **k: {"reference_household_hours_per_s": 1.0})
    monkeypatch.setattr(hh, "scaling", scaling)
    monkeypatch.setattr(sb, "follower_response_day", lambda scenario: {})
    assert main(["bench", "--scenario", "stackelberg", "--learner-config", "leader_action_search=8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["learner_config"] == {"leader_action_search": 8} and result["households"] == 10
    assert seen == {"training": {"leader_action_search": 8}, "scaling": {"leader_action_search": 8}}
    assert len(variants) == (hh.WARMUP_DAYS + 1) * 24 and sum(variants) == hh.WARMUP_DAYS + 1  # every learning hour
    assert main(["bench", "--scenario", "stackelberg", "--learner-config", "leader_action_search=x"]) == 2
    assert "'x' is not a whole number of candidate actions" in capsys.readouterr().err
    assert main(["bench", "--learner-config", "leader_gamma=0"]) == 2
    assert "the arbitrage design's learner has no settings to change" in capsys.readouterr().err


def test_flex_share_prints_the_share_last(capsys):
    assert main(["flex-share", "--scenario", "s-a"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    share = float(last)
    assert 0.10 <= share <= 0.40  # the default portfolios are calibrated into the target range


def test_learner_config_help_lists_every_setting_of_the_design_and_does_no_work(tmp_path, capsys):
    """`--learner-config help` (train, study, bench): every setting of the design's learner with what it means, exit 0,
    nothing written; a design without settings says so and where its hyperparameters change."""
    from model.designs.stackelberg import LEARNER_SETTINGS

    for argv in (["train", "--scenario", "stackelberg", "--out", str(tmp_path / "t")],
                 ["study", "--design", "stackelberg", "--out", str(tmp_path / "s")],
                 ["bench", "--scenario", "stackelberg"]):
        assert main([*argv, "--learner-config", "leader_gamma=0", "--learner-config", "help"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.split(":")[0].strip() for line in lines[1:]] == list(LEARNER_SETTINGS)
        assert all(LEARNER_SETTINGS[line.split(":")[0].strip()].help in line for line in lines[1:])
    assert not any(tmp_path.iterdir())
    assert main(["train", "--scenario", "s-a", "--out", str(tmp_path / "a"), "--learner-config", "help"]) == 0
    assert "no settings to change" in capsys.readouterr().out and not any(tmp_path.iterdir())
