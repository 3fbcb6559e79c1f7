"""The command line end to end: train / evaluate / resume, and a whole study on the tiny profile."""

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runs.cli import main
from runs.studies.arbitrage_best_response import constant_up_prices

ROOT = Path(__file__).resolve().parents[1]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    p = tmp_path_factory.mktemp("sc") / "toy-all-arb.toml"
    p.write_text('extends = "all-arb"\nname = "toy-all-arb"\n\n[data]\nsource = "synthetic"\n')
    return str(p)


def test_train_evaluate_and_resume_from_the_command_line(scenario, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    args = ["train", "--scenario", scenario, "--episodes", "2", "--eval-every", "1", "--seed", "1",
            "--out", str(run), "--set", "hidden_sizes=16", "--set", "buffer_size=1000"]
    assert main(args) == 0
    curve = pd.read_csv(run / "train_curve.csv")
    assert list(curve.columns[:3]) == ["episode", "aggregator", "eval_score_eur"]
    assert sorted(curve.episode.unique()) == [0, 1, 2] and curve.aggregator.nunique() == 10
    config = json.loads((run / "config.json").read_text())
    assert config["hyperparams"]["hidden_sizes"] == [16] and "lr_actor" in config["hyperparams_reconstructed"]
    assert "market hours/s" in capsys.readouterr().out

    assert main(args + ["--resume"]) == 0  # finished: nothing left to do, same curve
    pd.testing.assert_frame_equal(pd.read_csv(run / "train_curve.csv"), curve)
    assert main(args) == 2  # refuses to overwrite a run without --resume / --overwrite
    assert "--resume" in capsys.readouterr().err
    assert main(args[:-4] + ["--resume", "--set", "hidden_sizes=8"]) == 2  # mismatched checkpoint
    assert "hyperparameters differ" in capsys.readouterr().err

    ev = tmp_path / "ev"
    assert main(["evaluate", "--run", str(run), "--out", str(ev), "--weeks", "test:3,eval:1"]) == 0
    scores = pd.read_csv(ev / "scores.csv")
    assert list(scores.columns[:5]) == ["week", "aggregator", "first_stage_eur", "second_stage_eur", "total_eur"]
    assert set(scores.week) == {"test:3", "eval:1"}
    # --override plays the run's scenario with a setting changed: as a scenario file saying the same would
    ev2 = tmp_path / "ev-tie"
    assert main(["evaluate", "--run", str(run), "--out", str(ev2), "--weeks", "test:3",
                 "--override", "lfm_tie_break_eur_mwh=1e-4", "--override", "line_limit_factor=0.8"]) == 0
    config = json.loads((ev2 / "config.json").read_text())
    assert config["scenario"]["market"]["lfm_tie_break_eur_mwh"] == 1e-4 and config["scenario"]["grid"]["line_limit_factor"] == 0.8
    assert config["args"]["overrides"] == {"lfm_tie_break_eur_mwh": 1e-4, "line_limit_factor": 0.8}
    changed = tmp_path / "changed.toml"
    changed.write_text(f'extends = "{scenario}"\nname = "changed"\n\n[market]\nlfm_tie_break_eur_mwh = 1e-4\n\n'
                       '[grid]\nline_limit_factor = 0.8\n')
    from runs.training import evaluate_policy, load_trained_policy
    want, _ = evaluate_policy(str(changed), load_trained_policy(run)[0], seed=1, weeks=["test:3"], keep_hours=False)
    np.testing.assert_allclose(pd.read_csv(ev2 / "scores.csv").total_eur, want.total_eur, rtol=1e-5)
    assert not np.allclose(pd.read_csv(ev2 / "scores.csv").total_eur,
                           scores[scores.week == "test:3"].total_eur.to_numpy())  # the tighter lines cost something
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run), "--out", str(tmp_path / "bad"), "--override", "no_such_key=1"]) == 2
    assert "no_such_key" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    # --last: only a run that kept a better snapshot has another one to score
    assert main(["evaluate", "--run", str(run), "--last", "--weeks", "test:3"]) == 2
    assert "only a run trained with keep_best" in capsys.readouterr().err and not (run / "evaluation-last").exists()
    best = tmp_path / "best"
    keep = args[:-4] + ["--out", str(best), "--set", "keep_best=true", "--set", "buffer_size=1000"]
    assert main(keep) == 2 and "has no score to keep a best snapshot by" in capsys.readouterr().err
    from model.designs.arbitrage import ArbitrageDesign

    monkeypatch.setattr(ArbitrageDesign, "keep_best_refused", None)  # the mechanism, on the fastest design
    assert main(keep) == 0
    for extra, folder, policy in (([], "evaluation", "policy.pt"), (["--last"], "evaluation-last", "policy_last.pt")):
        assert main(["evaluate", "--run", str(best), "--weeks", "eval:1", *extra]) == 0
        config = json.loads((best / folder / "config.json").read_text())
        assert ("selected_episode" in json.loads((best / policy).with_suffix(".json").read_text())) == (not extra)
        assert config["trained"]["selected_episode"] == (None if extra else json.loads(
            (best / "policy.json").read_text())["selected_episode"])
        want, _ = evaluate_policy(scenario, load_trained_policy(best, last=bool(extra))[0], seed=1, weeks=["eval:1"],
                                  keep_hours=False)
        np.testing.assert_allclose(pd.read_csv(best / folder / "scores.csv").total_eur, want.total_eur, rtol=1e-5)


@pytest.mark.long
def test_tiny_study_writes_the_report_tables_and_figures(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["study", "--profile", "tiny", "--seeds", "1", "--jobs", "1", "--out", str(out), "--set", "gamma=0.5"]) == 0
    report = (out / "report.md").read_text()
    # --set reaches every training run, and study.json and the report say so
    for sc in ("s-a", "one-arb", "all-arb"):
        assert json.loads((out / "runs" / sc / "seed0" / "policy.json").read_text())["hyperparams"]["gamma"] == 0.5
    assert json.loads((out / "study.json").read_text())["profile"]["hp_overrides"]["gamma"] == 0.5
    assert '"gamma": 0.5' in report
    for heading in ("Table I", "Table II", "Baselines", "Best response of aggregator 5", "Does it reproduce",
                    "Is there an equilibrium to converge to?", "A mixed equilibrium to aim at?",
                    "Every aggregator against constant bids along training"):
        assert heading in report
    for fig in ("fig05_training_curves", "fig06_agg5_test_weeks_boxplot", "fig07_agg5_daily_costs",
                "fig08_agg5_net_generation", "fig09_agg5_flexibility", "fig10_agg5_imbalances",
                "fig11_per_aggregator_totals", "fig_exploitability_agg5", "fig_constant_bid_dynamics", "fig_fictitious_play",
                "fig_regret_matching", "fig_fitted_play", "fig_two_stage", "fig_constant_bids_along_training"):
        png = out / "figures" / f"{fig}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
        assert f"figures/{fig}.png" in report
    t2 = pd.read_csv(out / "tables" / "table2_total_profit.csv")
    assert list(t2.scenario) == ["s-a", "one-arb", "all-arb"]
    br = pd.read_csv(out / "tables" / "exploitability_agg5.csv")
    assert (br.best_eur_per_week >= br.learned_eur_per_week - 1e-6).all()
    assert (br.best_eur_per_week >= br.best_prices_only_eur_per_week - 1e-6).all()
    # two training days, one seed: no last quarter of evaluations to hold against the one before
    cv = pd.read_csv(out / "tables" / "convergence.csv")
    assert list(cv.scenario) == ["s-a", "s-a", "one-arb", "one-arb", "all-arb", "all-arb"]
    assert (cv.trend == "too few evaluations").all() and "## Convergence: every aggregator" in report
    # every aggregator against constant bids at the snapshots of episodes 0, 1 and 2, which are then removed
    along = pd.read_csv(out / "tables" / "constant_bids_along_training.csv")
    assert list(along.scenario) == ["s-a"] * 3 + ["one-arb"] * 3 + ["all-arb"] * 3 and list(along.episode[:3]) == [0, 1, 2]
    assert (along.summed_gain_eur_per_week >= 0).all() and (along.aggregators == 10).all()
    assert not any((out / "runs" / sc / "seed0" / "snapshots").exists() for sc in ("s-a", "one-arb", "all-arb"))
    # each run hands on its snapshot nearest an equilibrium of constant bids on the validation week (hand_on_nearest),
    # the last kept beside it; the evaluation is of the one handed on
    choice = pd.read_csv(out / "tables" / "snapshot_choice.csv")
    assert list(choice.scenario) == ["s-a", "one-arb", "all-arb"] and (choice.weeks == "eval:1").all()
    assert set(choice.handed_on_episode) <= {1, 2} and (choice.handed_on_distance <= choice.last_distance).all()
    for r in choice.itertuples():
        run = out / "runs" / r.scenario / "seed0"
        assert json.loads((run / "policy.json").read_text())["selected_episode"] == r.handed_on_episode
        assert json.loads((run / "policy_last.json").read_text())["episode"] == 2
    assert "Which snapshot each run hands on" in report and "runs hand on a snapshot before their last" in report
    dyn = pd.read_csv(out / "tables" / "constant_bid_dynamics.csv")  # seed 0 of every scenario, at most 2 rounds
    assert set(dyn.scenario) == {"s-a", "one-arb", "all-arb"} and dyn["round"].max() <= 1
    assert (dyn.gain_of_switches_eur_per_week >= 0).all() and (dyn.switched <= dyn.of).all()
    # fictitious play (seed 0, 3 iterations): its learned profile pays what the constant-bid check's learned rows
    # pay, on the check and on the validation weeks (two code paths through the model)
    ft = pd.read_csv(out / "tables" / "fictitious_play.csv")
    assert len(ft) == 12 and (ft.iterations == 3).all() and (ft.largest_gain_share >= -1e-9).all()
    cp = pd.read_csv(out / "constant_prices" / "one-arb-seed0.csv")
    for use in ("check", "validation"):
        learned = ft[(ft.scenario == "one-arb") & (ft.profile == "learned") & (ft.weeks == use)].all_aggregators_eur_per_week
        c = cp[cp.use == use]
        assert float(learned.iloc[0]) == pytest.approx(c.learned_eur.sum() / c.week.nunique(), rel=1e-5)  # CSVs: 6 digits
    mix = pd.read_csv(out / "fictitious_play" / "one-arb-seed0-mixtures.csv")
    assert np.allclose(mix.groupby("aggregator").probability.sum(), 1.0)
    played = pd.read_csv(out / "fictitious_play" / "one-arb-seed0-scores.csv")  # the mixtures on the evaluation weeks
    learned_scores = pd.read_csv(out / "eval" / "one-arb" / "seed0" / "scores.csv")
    assert set(played.week) == set(learned_scores.week) == {"test:1", "test:2", "eval:1"}
    # regret matching (seed 0, 3 iterations): its learned profile pays what the constant-bid check's learned rows pay
    # (check weeks) and what fictitious play's learned profile pays (validation weeks: `score_correlated`'s path)
    rt = pd.read_csv(out / "tables" / "regret_matching.csv")
    assert set(rt.scenario) == {"s-a", "one-arb", "all-arb"} and len(rt) == 18
    assert set(rt.profile) == {"learned", "fictitious play", "regret matching"} and (rt.largest_gain_share >= -1e-9).all()
    mine = rt[(rt.scenario == "one-arb") & (rt.profile == "learned")].set_index("weeks").all_aggregators_eur_per_week
    c = cp[cp.use == "check"]
    assert mine["check"] == pytest.approx(c.learned_eur.sum() / c.week.nunique(), rel=1e-5)
    fp_learned = ft[(ft.scenario == "one-arb") & (ft.profile == "learned")].set_index("weeks").all_aggregators_eur_per_week
    assert mine["validation"] == pytest.approx(fp_learned["validation"], rel=1e-9)
    rm_mix = pd.read_csv(out / "regret_matching" / "one-arb-seed0-mixtures.csv")
    assert sorted(set(rm_mix.iteration)) == [0, 1, 2] and np.allclose(rm_mix.groupby(["iteration", "aggregator"]).probability.sum(), 1.0)
    assert "An equilibrium that no-regret play finds" in report
    # regret matching by congestion (2 buckets fitted on the training weeks): its learned profile on the check weeks
    # pays what the constant-bid check's learned rows pay; every bucket's mixtures are distributions
    bt = pd.read_csv(out / "tables" / "regret_matching_by_congestion.csv")
    assert set(bt.scenario) == {"s-a", "one-arb", "all-arb"} and set(bt.weeks) == {"fit", "check", "validation"}
    assert set(bt.profile) == {"learned", "by congestion"} and (bt.buckets == 2).all()
    mine = bt[(bt.scenario == "one-arb") & (bt.profile == "learned")].set_index("weeks").all_aggregators_eur_per_week
    assert mine["check"] == pytest.approx(c.learned_eur.sum() / c.week.nunique(), rel=1e-5)
    assert bt[bt.weeks == "check"].clearly_short_of_validated.between(0, 10).all()
    bmix = pd.read_csv(out / "regret_matching" / "one-arb-seed0-buckets-mixtures.csv")
    assert set(bmix.bucket) == {0, 1} and np.allclose(bmix.groupby(["bucket", "iteration", "aggregator"]).probability.sum(), 1.0)
    assert "a play by congestion" in report
    # that play as a policy on the evaluation weeks: the learned rows are the learned evaluation's, the play's
    # LEM the learned one (it changes LFM up prices only), and the orderings are read on both
    pt = pd.read_csv(out / "tables" / "play_by_congestion_test_weeks.csv")
    assert list(pt.scenario) == ["s-a", "s-a", "one-arb", "one-arb", "all-arb", "all-arb"]
    assert list(pt.profile[:2]) == ["learned", "by congestion"] and (pt.seeds == 1).all()
    test = learned_scores[learned_scores.week.str.startswith("test")]
    one = pt[(pt.scenario == "one-arb")].set_index("profile")
    assert one.loc["learned", "all_aggregators_eur_per_week"] == pytest.approx(test.total_eur.sum() / 2, rel=1e-5)
    markets = pd.read_csv(out / "tables" / "markets.csv").set_index("scenario")
    assert one.loc["learned", "dso_pays_eur_per_week"] == pytest.approx(markets.loc["one-arb", "dso_pays_eur_per_week"], rel=1e-5)
    play_hours = pd.read_csv(out / "regret_matching" / "one-arb-seed0-buckets-play-hours.csv")
    learned_hours = pd.read_csv(out / "eval" / "one-arb" / "seed0" / "hours.csv")
    assert np.allclose(play_hours.withhold, learned_hours.withhold) and np.allclose(play_hours.p_sched_mw, learned_hours.p_sched_mw)
    assert (out / "regret_matching" / "one-arb-seed0-buckets-policy.npz").exists()
    po = pd.read_csv(out / "tables" / "ordering_play_by_congestion.csv")
    assert set(po.profile) == {"learned", "by congestion"} and (po.seeds == 1).all()
    assert "The play by congestion on the test weeks" in report
    fo = pd.read_csv(out / "tables" / "ordering_fictitious_play.csv")
    assert set(fo.weeks) == {"check", "other test weeks"} and set(fo.profile) == {"learned", "mixtures"}
    fm = pd.read_csv(out / "tables" / "markets_fictitious_play.csv")
    assert len(fm) == 6 and set(fm.profile) == {"learned", "mixtures"} and (fm.flex_bought_mwh_per_week > 0).all()
    learned_markets = pd.read_csv(out / "tables" / "markets.csv").set_index("scenario")
    for r in fm[fm.profile == "learned"].itertuples():  # the same evaluation hours as the report's market table
        assert r.dso_pays_eur_per_week == pytest.approx(learned_markets.loc[r.scenario, "dso_pays_eur_per_week"], rel=1e-5)
    # the critics' ranking of the constant bids: every active check hour of the constant-bid check, its learned
    # earnings carried over, and the report's table over them
    cr = pd.read_csv(out / "critic_ranking" / "one-arb-seed0.csv")
    active = cp[(cp.use == "check") & (cp[list(constant_up_prices(cp))].nunique(axis=1) > 1)]
    assert len(cr[cr.use == "check"]) >= len(active) > 0
    ct = pd.read_csv(out / "tables" / "critic_ranking.csv")
    assert set(ct.scenario) == {"s-a", "one-arb", "all-arb"} and ct.critic_picks_best_share.between(0, 1).all()
    assert (ct.best_price_per_hour_eur_per_week >= ct.critic_pick_eur_per_week - 1e-6).all()
    assert "Where learning falls short: the critics" in report
    # the fitted responders (seed 0): scored on the constant-bid check's hours, learned € as that check has them
    fr = pd.read_csv(out / "fitted_responders" / "one-arb-seed0.csv")
    both = fr.merge(cp, on=["week", "hour_of_week", "aggregator"], suffixes=("", "_cp"))
    assert len(both) == len(fr) == len(cp) and np.allclose(both.learned_eur, both.learned_eur_cp)
    assert (fr.best_up_price_eur >= fr.responder_eur - 1e-9).all()
    ff = pd.read_csv(out / "tables" / "exploitability_fitted_responders.csv")
    assert set(ff.scenario) == {"s-a", "one-arb", "all-arb"} and len(ff) == 30
    assert "A best responder fitted on the market's values" in report
    assert "Responders fitted on the market's values" in (out / "reading.md").read_text()
    # fictitious play over fitted responders (seed 0): the learned rows are the learned checks' own numbers, the policy
    # kept reloads from its file (no pickles) and earns, replayed, what its constant-bid check recorded
    fpt = pd.read_csv(out / "tables" / "fitted_play.csv")
    assert list(fpt.scenario) == ["s-a", "s-a", "one-arb", "one-arb", "all-arb", "all-arb", "all-arb"]
    assert list(fpt.policy) == ["learned", "fitted play"] * 3 + ["two-stage play"]  # the two-stage play: all-arb only
    assert (fpt.iteration[fpt.policy == "learned"] == 0).all()
    ea = pd.read_csv(out / "tables" / "exploitability_every_aggregator.csv")
    lr = fpt[fpt.policy == "learned"].set_index("scenario")
    for sc, d in ea.groupby("scenario"):
        assert lr.loc[sc, "all_aggregators_eur_per_week"] == pytest.approx(d.learned_eur_per_week.sum(), rel=1e-5)  # CSVs: 6 digits
        assert lr.loc[sc, "clearly_short"] == d.seeds_clearly_short.sum()
    assert (fpt.in_sample_largest_constant_gain_share.dropna() >= -1e-9).all()
    assert fpt.in_sample_largest_constant_gain_share.notna().sum() == 6
    assert (fpt.in_sample_largest_fixed_gain_share.dropna() >= -1e-9).all()
    from runs.studies import arbitrage_best_response as brm
    from runs.studies.arbitrage_fitted_play import FittedPlayPolicy
    from runs.training import load_trained_policy

    learned, meta = load_trained_policy(out / "runs" / "one-arb" / "seed0")
    kept = FittedPlayPolicy.load(out / "fitted_play" / "one-arb-seed0-policy.npz", learned, meta["participant_ids"])
    assert kept.population - 1 == fpt[(fpt.scenario == "one-arb") & (fpt.policy == "fitted play")].iteration.iloc[0]
    fcp = pd.read_csv(out / "fitted_play" / "one-arb-seed0-constant_prices.csv")
    again = brm.constant_prices("one-arb", kept, ["test:1"], aggregators=[5], grid=brm.COARSE, seed=0, max_hours=24)
    np.testing.assert_allclose(again.learned_eur, fcp[(fcp.week == "test:1") & (fcp.aggregator == 5)].learned_eur,
                               rtol=1e-5, atol=1e-6)  # the CSV keeps 6 digits
    assert "Fictitious play over fitted best responders" in report and "figures/fig_fitted_play.png" in report
    # the fitted two-stage responders (seed 0), against the learned and the fitted-play policy: the policy's own
    # option pays what the constant-bid check's learned rows pay in the same hours (two code paths through the model)
    ts = pd.read_csv(out / "two_stage" / "one-arb-seed0.csv")
    both = ts.merge(cp, on=["week", "hour_of_week", "aggregator"], suffixes=("", "_cp"))
    assert len(both) == len(ts) == len(cp) and np.allclose(both.learned_eur, both.learned_eur_cp, rtol=1e-5, atol=1e-6)
    assert (ts.best_option_eur >= ts[["responder_eur", "learned_eur"]].max(axis=1) - 1e-6).all()
    tt = pd.read_csv(out / "tables" / "exploitability_two_stage.csv")
    assert len(tt) == 70 and set(tt.policy) == {"learned", "fitted play", "two-stage play"}
    assert set(tt[tt.policy == "two-stage play"].scenario) == {"all-arb"}
    kept = tt.responder_kept.astype(bool)  # chosen on the validation weeks: it can lose on the check weeks
    assert (tt.gain_eur_per_week[~kept] == 0).all()
    np.testing.assert_allclose(tt.gain_eur_per_week[kept], (tt.responder_eur_per_week - tt.policy_eur_per_week)[kept],
                               rtol=1e-5, atol=0.05)  # the CSV keeps 6 digits
    assert {"two_stage_over_10pct", "largest_two_stage_gain_share"} <= set(fpt.columns)
    assert "A best responder for both decisions" in report
    # fictitious play over two-stage responders (all-arb, seed 0, 1 iteration): the policy kept reloads from its file
    # and earns, replayed, what its constant-bid check recorded; the learned row's in-sample gain is iteration 0's
    from runs.studies.arbitrage_two_stage import TwoStagePlayPolicy

    hist = pd.read_csv(out / "two_stage_play" / "all-arb-seed0.csv")
    assert set(hist.week_set) == {"train:2"}  # its own weeks (tiny profile), not the fitted play's train:1
    tsp = fpt[(fpt.scenario == "all-arb")].set_index("policy")
    assert tsp.loc["learned", "in_sample_largest_fixed_gain_share"] == pytest.approx(
        hist[hist.iteration == 0].fixed_gain_share.max())
    learned, meta = load_trained_policy(out / "runs" / "all-arb" / "seed0")
    kept = TwoStagePlayPolicy.load(out / "two_stage_play" / "all-arb-seed0-policy.npz", learned, meta["participant_ids"],
                                   base_sha256=meta["tensor_sha256"])
    assert kept.population - 1 == tsp.loc["two-stage play", "iteration"] == hist[hist.chosen].iteration.iloc[0]
    tcp = pd.read_csv(out / "two_stage_play" / "all-arb-seed0-constant_prices.csv")
    again = brm.constant_prices("all-arb", kept, ["test:1"], aggregators=[7], grid=brm.COARSE, seed=0, max_hours=24)
    np.testing.assert_allclose(again.learned_eur, tcp[(tcp.week == "test:1") & (tcp.aggregator == 7)].learned_eur,
                               rtol=1e-5, atol=1e-6)
    assert "fictitious play over those two-stage responders also runs (1 iterations on the weeks train:2;" in report
    # the orderings on played policies (scripts/fitted_play_check.py orderings): each scenario's fitted-play policy
    # scored on the evaluation weeks; a step's difference is the two scenarios' scored totals apart
    ordering = [sys.executable, str(ROOT / "scripts" / "fitted_play_check.py"), "orderings", "--study", str(out), "--plays",
                str(out / "fitted_play"), "--profile", "tiny", "--out", str(tmp_path / "ord")]
    first = subprocess.run(ordering, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("scored on the evaluation weeks") == 3
    od = pd.read_csv(tmp_path / "ord" / "orderings.csv")
    assert set(od.profile) == {"learned", "fitted play"} and set(od.weeks) == {"test weeks", "check weeks", "other test weeks"}

    def test_week_total(folder, sc, weeks=("test:1", "test:2")):
        d = pd.read_csv(folder / sc / "seed0" / "scores.csv")
        return d[d.week.isin(weeks)].total_eur.sum() / len(weeks)

    for profile, folder in (("fitted play", tmp_path / "ord" / "eval"), ("learned", out / "eval")):
        row = od[(od.who == "all aggregators") & (od.weeks == "test weeks") & (od.profile == profile)].set_index("step")
        assert row.loc["S-a < one-arb", "mean_difference_eur_per_week"] == pytest.approx(
            test_week_total(folder, "one-arb") - test_week_total(folder, "s-a"), rel=1e-4, abs=0.05)
    assert set(pd.read_csv(tmp_path / "ord" / "eval" / "all-arb" / "seed0" / "scores.csv").week) == {"test:1", "test:2", "eval:1"}
    again = subprocess.run(ordering, capture_output=True, text=True, cwd=ROOT)  # the scored policies are kept
    assert again.returncode == 0 and "scored on the evaluation weeks" not in again.stdout
    bad = subprocess.run(ordering[:5] + ["--play", "one-arb=nope.npz", "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode != 0 and "write SCENARIO:SEED=FILE" in bad.stderr
    # the study's two-stage play step without its checks (more seeds, to score with orderings): the same play (same
    # seed, weeks and iterations), its policy and history only
    lone = subprocess.run([sys.executable, str(ROOT / "scripts" / "fitted_play_check.py"), "two-stage-play", "--study",
                           str(out), "all-arb", "--profile", "tiny", "--no-checks", "--out", str(tmp_path / "tsp")],
                          capture_output=True, text=True, cwd=ROOT)
    assert lone.returncode == 0, lone.stderr
    files = sorted(f.name for f in (tmp_path / "tsp" / "two_stage_play").iterdir())
    assert files == ["all-arb-seed0-policy.npz", "all-arb-seed0.csv"] and not (tmp_path / "tsp" / "two_stage").exists()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "tsp" / "two_stage_play" / "all-arb-seed0.csv"), hist)
    # the textbook variant: rounds weighed uniformly, each fitted on the last iteration's values only
    uniform = subprocess.run([sys.executable, str(ROOT / "scripts" / "fitted_play_check.py"), "two-stage-play", "--study",
                              str(out), "all-arb", "--profile", "tiny", "--no-checks", "--rounds", "uniform", "--window", "1",
                              "--out", str(tmp_path / "tsu")], capture_output=True, text=True, cwd=ROOT)
    assert uniform.returncode == 0, uniform.stderr
    with np.load(tmp_path / "tsu" / "two_stage_play" / "all-arb-seed0-policy.npz") as z:
        assert int(z["meta"][3]) == 0  # saved as uniform, so it plays back as the play valued it
    hu = pd.read_csv(tmp_path / "tsu" / "two_stage_play" / "all-arb-seed0.csv")
    pd.testing.assert_frame_equal(hu[hu.iteration == 0], hist[hist.iteration == 0])  # the learned policy's values
    assert not np.allclose(hu[hu.iteration == 1].own_eur_per_week, hist[hist.iteration == 1].own_eur_per_week)
    for policy in ("truthful", "rule"):
        assert (out / "baselines" / policy / "scores.csv").exists()
    assert main(["study", "--profile", "tiny", "--out", str(out)]) == 2  # exists: needs --resume or --overwrite
    assert main(["study", "--profile", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown study profile" in capsys.readouterr().err


def test_a_failed_job_is_reported_the_rest_kept_and_resume_redoes_only_it(tmp_path, capsys, monkeypatch):
    from runs.studies import arbitrage
    from runs.studies import arbitrage_best_response as baselines

    real = baselines.best_response

    def flaky(scenario, *a, **k):
        if scenario == "one-arb":
            raise RuntimeError("injected failure")
        return real(scenario, *a, **k)

    # the tiny profile less the checks after the best response (the failure is injected there): what is tested is
    # the study's bookkeeping, and the full tiny profile (test_tiny_study_writes_the_report_tables_and_figures) would
    # be played four times over (~280 s of the suite)
    light = dataclasses.replace(arbitrage.PROFILES["tiny"], responder_episodes=0, dynamics_rounds=0, fp_iterations=0,
                                fit_weeks=(), fitted_play_iterations=0, two_stage_weeks="", two_stage_play_iterations=0)
    monkeypatch.setitem(arbitrage.PROFILES, "tiny", light)
    out = tmp_path / "study"
    monkeypatch.setattr(baselines, "best_response", flaky)
    assert main(["study", "--profile", "tiny", "--jobs", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "one-arb seed 0 FAILED: RuntimeError: injected failure" in err and "--resume" in err
    assert not (out / "report.md").exists()
    trained = {sc: (out / "runs" / sc / "seed0" / "policy.pt").stat().st_mtime_ns for sc in ("s-a", "one-arb", "all-arb")}
    monkeypatch.setattr(baselines, "best_response", real)
    # resuming with other settings than the study was started with is refused, naming them, and touches nothing
    assert main(["study", "--profile", "tiny", "--jobs", "1", "--out", str(out), "--resume", "--set", "gamma=0.5"]) == 2
    err = capsys.readouterr().err
    assert "was started with other settings" in err and 'hp_overrides was {}, now {"gamma": 0.5}' in err
    assert main(["study", "--profile", "tiny", "--jobs", "1", "--out", str(out), "--resume", "--episodes", "3"]) == 2
    assert "episodes was 2, now 3" in capsys.readouterr().err
    assert not (out / "best_response" / "one-arb-seed0.csv").exists()
    assert main(["study", "--profile", "tiny", "--jobs", "1", "--out", str(out), "--resume"]) == 0
    assert (out / "report.md").exists() and (out / "best_response" / "one-arb-seed0.csv").exists()
    for sc, mtime in trained.items():  # nothing was trained again
        assert (out / "runs" / sc / "seed0" / "policy.pt").stat().st_mtime_ns == mtime
    # a study stopped before some of its jobs started: --resume starts them (stop 37: it refused each, "nothing to
    # resume" in a run folder that did not exist yet)
    for p in sorted(out.rglob("*all-arb*"), reverse=True):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    assert not (out / "runs" / "all-arb").exists()
    assert main(["study", "--profile", "tiny", "--jobs", "1", "--out", str(out), "--resume"]) == 0
    assert (out / "runs" / "all-arb" / "seed0" / "policy.pt").exists() and (out / "eval" / "all-arb" / "seed0").is_dir()
    for sc in ("s-a", "one-arb"):
        assert (out / "runs" / sc / "seed0" / "policy.pt").stat().st_mtime_ns == trained[sc]


def test_resume_compares_with_the_settings_of_a_study_finished_before_they_were_recorded(tmp_path):
    from runs.study import check_resumed_settings, resolve_profile, study_settings

    profile = resolve_profile("arbitrage", "quick", None)
    now = study_settings("arbitrage", profile, profile.episodes)
    old = dataclasses.asdict(profile) | {"episodes": profile.episodes, "seeds": 3}
    old.pop("two_stage_play_weeks")  # a field added since the study was made
    old["fitted_play_weeks"] = "busy:5"
    (tmp_path / "study.json").write_text(json.dumps({"profile": old}, default=str))  # no design: an arbitrage study
    with pytest.raises(ValueError) as e:
        check_resumed_settings(tmp_path, now)
    assert 'fitted_play_weeks was "busy:5", now "busy:7"' in str(e.value)
    assert f'two_stage_play_weeks was "<not recorded>", now "{profile.two_stage_play_weeks}"' in str(e.value)
    assert "episodes was" not in str(e.value) and "seeds was" not in str(e.value)  # the same; seeds may be added
    old |= {"fitted_play_weeks": "busy:7", "two_stage_play_weeks": profile.two_stage_play_weeks, "seeds": 5}
    (tmp_path / "study.json").write_text(json.dumps({"profile": old}, default=str))
    check_resumed_settings(tmp_path, now)  # the same settings, more seeds: resumed
    with pytest.raises(ValueError, match="design was 'arbitrage', now 'p2p'"):
        check_resumed_settings(tmp_path, now | {"design": "p2p"})
    check_resumed_settings(tmp_path / "nothing-recorded", now)  # a study with no record is resumed as it is


def test_a_study_resumed_with_another_learner_config_is_refused_by_name(tmp_path):
    from runs.study import check_resumed_settings, resolve_profile, study_settings

    plain = resolve_profile("stackelberg", "quick", None)
    far = resolve_profile("stackelberg", "quick", None, ["leader_gamma=0.95"])
    assert plain.learner_config == {} and far.learner_config == {"leader_gamma": 0.95}
    recorded = dataclasses.asdict(plain) | {"episodes": plain.episodes}  # study.json records the empty config
    (tmp_path / "study.json").write_text(json.dumps({"design": "stackelberg", "profile": recorded}, default=str))
    check_resumed_settings(tmp_path, study_settings("stackelberg", plain, plain.episodes))
    with pytest.raises(ValueError, match=r'learner_config was "<not recorded>", now \{"leader_gamma": 0.95\}.*--learner-config'):
        check_resumed_settings(tmp_path, study_settings("stackelberg", far, far.episodes))
    with pytest.raises(ValueError, match="the arbitrage design's learner has no settings to change"):
        resolve_profile("arbitrage", "quick", None, ["leader_gamma=0"])


def test_a_resumed_jobs_eta_weight_counts_only_the_days_after_its_checkpoint(tmp_path):
    """The P2P paper study stopped with MADDPG (no sharing) seed 2 at day 500 of 1,500: its resume printed an ETA
    of 3,404 s for about 25 min of work, the whole job's cost. Its weight is now the two thirds left."""
    from runs.studies import p2p, stackelberg
    from runs.study import resolve_profile

    profile = resolve_profile("p2p", "paper", None)
    ck = tmp_path / "runs" / "maddpg" / "seed2" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "ep000500.json").write_text(json.dumps({"episode": 500}))
    fresh = {j.name: j.weight for j in p2p.jobs(tmp_path, profile, 3, profile.episodes, "cpu", resume=False)}
    resumed = {j.name: j.weight for j in p2p.jobs(tmp_path, profile, 3, profile.episodes, "cpu", resume=True)}
    assert fresh["maddpg seed 2"] == pytest.approx(252.0 * 1500 / 150)  # stop 26's 252 s per 150 days
    assert resumed["maddpg seed 2"] == pytest.approx(252.0 * 1000 / 150)
    assert {k: v for k, v in resumed.items() if k != "maddpg seed 2"} == {k: v for k, v in fresh.items() if k != "maddpg seed 2"}
    # the Stackelberg study (and the arbitrage one) share the rule; a checkpoint past the end leaves nothing
    sp = resolve_profile("stackelberg", "quick", None)
    ck = tmp_path / "runs" / "stackelberg" / "seed0" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "ep009999.json").write_text(json.dumps({"episode": 9999}))
    weights = {j.name: j.weight for j in stackelberg.jobs(tmp_path, sp, 1, 1500, "cpu", resume=True)}
    assert weights["stackelberg seed 0"] == 0.0 and weights["simultaneous seed 0"] == pytest.approx(146.0)


RESPONDER_COLUMNS = ["participant", "cluster", "weeks", "days", "learned_eur", "responder_eur", "gain_eur", "gain_share",
                     "episodes", "best_episode", "seconds"]


def _check_responders(rs: pd.DataFrame, curve: pd.DataFrame, episodes: int) -> None:
    """A trained-best-responder table (`runs.studies.p2p.train_responders`) and its curves make sense."""
    assert list(rs.columns) == RESPONDER_COLUMNS and len(rs) and rs.participant.is_unique
    assert np.allclose(rs.gain_eur, rs.responder_eur - rs.learned_eur, rtol=1e-4, atol=1e-4)
    assert np.allclose(rs.gain_share, rs.gain_eur / rs.learned_eur.abs(), rtol=1e-4, atol=1e-6)
    assert (rs.episodes == episodes).all() and rs.best_episode.between(0, episodes).all()
    assert (rs.days == 7).all() and (rs.seconds > 0).all() and (rs.learned_eur != 0).all()
    assert list(curve.columns) == ["participant", "cluster", "episode", "validation_eur"]
    for r in rs.itertuples():
        c = curve[curve.participant.astype(str) == str(r.participant)]
        assert c.episode.iloc[0] == 0 and c.episode.iloc[-1] == episodes and set(c.cluster) == {r.cluster}
        # the actor kept is the one that scored best on the validation weeks, the learned one (episode 0) included
        assert c.set_index("episode").validation_eur[r.best_episode] >= c.validation_eur.max() - 1e-6 * c.validation_eur.abs().max()
        if r.best_episode == 0:
            assert r.gain_eur == pytest.approx(0.0, abs=1e-3)  # nothing better found: it plays the learned policy


@pytest.mark.long
@pytest.mark.parametrize("design, headings, figures, tables", [
    ("stackelberg", ("Does the leader-follower structure enhance market performance?", "Followers against retail only",
                     "exact Stackelberg solution of the small instance", "Exploitability", "Trained best responders",
                     "The heat pumps' comfort by test week and seed", "Had learning settled?"),
     ("methods", "training_curves", "test_day", "exact_solution", "follower_savings", "exploitability", "comfort"),
     ("methods_test_days", "versus_retail_only", "stackelberg_vs_simultaneous", "exact_solution", "responders",
      "leader_exploitability", "comfort_by_week", "convergence")),
    ("p2p", ("The paper's claims on our data", "Every method on the test days", "Per cluster", "Trained best responders",
             "The heat pumps' comfort by test week and seed", "Had learning settled?"),
     ("methods", "training_curves", "typical_day", "clusters", "savings", "exploitability", "comfort"),
     ("methods_test_days", "clusters", "days", "optimum_days", "responders", "comfort_by_week", "convergence"))
])
def test_the_household_designs_tiny_studies_write_their_reports(tmp_path, design, headings, figures, tables):
    out = tmp_path / design
    # the Stackelberg study runs with a learner setting changed: every run records it, the report's command names it
    options = ["--learner-config", "leader_gamma=0.95"] if design == "stackelberg" else []
    assert main(["study", "--design", design, "--profile", "tiny", "--jobs", "2", "--out", str(out), *options]) == 0
    report = (out / "report.md").read_text()
    assert f"--profile tiny{' ' * bool(options)}{' '.join(options)}`" in report
    for heading in headings:
        assert heading in report
    for fig in figures:
        png = out / "figures" / f"{fig}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000, fig
        assert f"figures/{fig}.png" in report
    for table in tables:
        assert len(pd.read_csv(out / "tables" / f"{table}.csv")) > 0, table
    assert len((out / "reading.md").read_text()) > 200  # the index's paragraph
    # the comfort view's day-optimum reference: the study's own day LPs' mean K·h per day in each test week
    cw = pd.read_csv(out / "tables" / "comfort_by_week.csv")
    lp = pd.read_csv(out / "optimum" / f"{'p2p-mmr' if design == 'p2p' else 'stackelberg'}.csv")
    assert {"heat_pump_kwh", "comfort_violation_kh"} <= set(lp.columns) and (lp.heat_pump_kwh >= 0).all()
    assert len(cw) and np.allclose(cw.optimum_kh_per_day, cw.week.map(lp.groupby("week").comfort_violation_kh.mean()),
                                   rtol=1e-5)
    assert "| day optimum | — |" in report and "perfect-foresight day optimum's" in report
    reading = (out / "reading.md").read_text()
    assert "A best responder trained for 2 days" in reading
    rt = pd.read_csv(out / "tables" / "responders.csv")
    # the clock check: the same sampled households as the LP check; the day LP <= the schedule <= the learned actions
    who = "household" if design == "p2p" else "follower"
    ck = pd.read_csv(out / "checks" / f"{who}_clock_seed0.csv")
    assert sorted(ck.household.unique()) == sorted(pd.read_csv(out / "checks" / f"{who}_br_seed0.csv")[who].unique())
    assert (ck.lp_eur <= ck.clock_eur + 1e-7).all()  # no executable schedule beats each day's LP
    assert "## What the clock alone could do" in report and len(pd.read_csv(out / "tables" / "clock_schedule.csv"))
    assert "search over 3 levels per device and hour, at most 1 passes" in report  # the tiny profile's light search
    if design == "p2p":
        br = pd.read_csv(out / "checks" / "household_br_seed0.csv")
        rs = pd.read_csv(out / "checks" / "household_responders_seed0.csv")
        _check_responders(rs, pd.read_csv(out / "checks" / "household_responders_seed0-curve.csv"), episodes=2)
        # one household per learning cluster: the first the LP check sampled there
        assert list(rs.participant) == list(br.groupby("cluster").household.min().sort_values())
        assert set(rs.cluster) == {"pv-battery", "pv-ev", "heat-pump"}  # the passive cluster does not learn
        # its learned score is the LP check's learned cost of the same household and days, sign flipped (a reward)
        lp_cost = br.groupby("household").learned_cost_eur.sum()
        assert np.allclose(rs.learned_eur, -lp_cost.loc[rs.participant].to_numpy(), rtol=1e-4)
        # the report's table: costs per day (+ = pays), gain = learned - responder cost, beside the same households' LP regret
        assert list(rt.cluster) == sorted(rs.cluster) + ["all"]
        assert np.allclose(rt.gain_eur_per_day, rt.learned_cost_eur_per_day - rt.responder_cost_eur_per_day,
                           rtol=1e-4, atol=1e-4)
        ex = pd.read_csv(out / "tables" / "exploitability.csv").set_index("cluster")  # 1 household per cluster in tiny
        assert np.allclose(rt.learned_cost_eur_per_day, ex.learned_cost_eur_per_day.loc[rt.cluster], rtol=1e-4)
        assert np.allclose(rt.lp_regret_eur_per_day, ex.regret_eur_per_day.loc[rt.cluster], rtol=1e-4)
        assert "gain_pct_of_learned_cost" in report and "**+ = the responder pays less**" in report
        # the design keeps each run's best snapshot on the evaluation week and the hottest training week together
        # (keep_best, selection_weeks): the curve's summed selection score is highest there; the report names it, per run
        for run in (out / "runs").glob("*/seed0"):
            meta = json.loads((run / "policy.json").read_text())
            curve = pd.read_csv(run / "train_curve.csv").groupby("episode")[["eval_score_eur", "selection_score_eur"]].sum()
            assert curve.selection_score_eur.loc[meta["selected_episode"]] == pytest.approx(curve.selection_score_eur.max(),
                                                                                             rel=1e-5), run  # the csv rounds
            assert (curve.selection_score_eur != curve.eval_score_eur).all()  # the summer week counts too
            groups = meta.get("selected_groups")  # keep_best_per_group: each cluster's own day, where handed on
            said = (f"days {', '.join(f'{k} {v}' for k, v in groups.items())} by learning group" if groups
                    else f"day {meta['selected_episode']}")
            assert f"{run.parent.name}: seed 0 {said}" in report
            assert (run / "policy_last.pt").exists()
        assert ("scored best on the evaluation week (week 48) and training week 23 (week 29) together (`keep_best`, "
                "`selection_weeks`") in report
        assert "selection_best_response" not in report  # P2P has no cheap best response to weigh
        assert "has not finished" not in report
        # scripts/p2p_levers.py on the study's run gives the study's LP and clock checks; a bad override is refused
        lever = subprocess.run([sys.executable, str(ROOT / "scripts" / "p2p_levers.py"), "study-run", "0", "--profile", "tiny",
                                "--run", str(out / "runs" / "maddpg-ps" / "seed0"), "--check-weeks", "test:2",
                                "--out", str(tmp_path / "levers")], capture_output=True, text=True, cwd=ROOT)
        assert lever.returncode == 0, lever.stderr
        r = json.loads(lever.stdout.strip().splitlines()[-1])
        assert r["lp_regret_eur_per_household_day"] == pytest.approx(br.regret_eur.mean(), abs=5e-4)  # rounded to 3 digits
        clock = pd.read_csv(out / "tables" / "clock_schedule.csv").set_index("cluster")
        got = pd.Series(r["clock_share_of_lp_gap"], dtype=float).sort_index()  # None where the table has NaN
        np.testing.assert_allclose(got, clock.clock_share_of_lp_gap.round(3).sort_index(), atol=1e-9)
        assert r["test"]["test_days"] == 84 and r["test"]["battery_discharge_kwh_per_day"] > 0
        # scripts/battery_value_check.py on it: one line per household, the means, and the critic along the charge
        check = subprocess.run([sys.executable, str(ROOT / "scripts" / "battery_value_check.py"),
                                str(out / "runs" / "maddpg-ps" / "seed0"), "--households", "2", "--soc-sweep"],
                               capture_output=True, text=True, cwd=ROOT)
        assert check.returncode == 0, check.stderr
        lines = check.stdout.strip().splitlines()
        assert sum(line.startswith("household ") and "critic_gain" in line for line in lines) == 2
        assert sum(line.strip().startswith("soc ") for line in lines) == 5 and lines[-1].startswith("mean over 2:")
        # and on the heat pumps: their floor set point for three summer night hours, against the learned one
        check = subprocess.run([sys.executable, str(ROOT / "scripts" / "battery_value_check.py"),
                                str(out / "runs" / "maddpg-ps" / "seed0"), "--device", "heat_pump", "--hour", "1",
                                "--hold", "3", "--households", "2"], capture_output=True, text=True, cwd=ROOT)
        assert check.returncode == 0, check.stderr
        lines = check.stdout.strip().splitlines()
        assert sum(line.startswith("household ") and "t_in_in_band" in line for line in lines) == 2
        assert lines[-1].startswith("mean over 2:") and "(heat_pump at 0; test:8, day 3 from 1:00, for 3 h)" in lines[-1]
        bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "battery_value_check.py"),
                              str(out / "runs" / "maddpg-ps" / "seed0"), "--device", "heat_pump", "--action", "-1"],
                             capture_output=True, text=True, cwd=ROOT)
        assert bad.returncode != 0 and "--action -1.0 is outside the heat_pump's range [0, 1]" in bad.stderr
        # scripts/constant_action_check.py: the heat pumps at the floor in the night hours of the evaluated test week;
        # its learned play is the study's evaluation of that week (the cluster's comfort and heat-pump energy per day)
        check = subprocess.run([sys.executable, str(ROOT / "scripts" / "constant_action_check.py"),
                                str(out / "runs" / "maddpg-ps" / "seed0"), "--hours", "0-6", "--weeks", "test:1"],
                               capture_output=True, text=True, cwd=ROOT)
        assert check.returncode == 0, check.stderr
        lines = check.stdout.strip().splitlines()
        assert lines[1].lstrip().startswith("test:1: cluster reward") and lines[-1].startswith("mean over 1 weeks:")
        hours = pd.read_csv(out / "eval" / "maddpg-ps" / "seed0" / "hours.csv")
        hours = hours[(hours.week == "test:1") & (hours.cluster == "heat-pump")]
        energy = re.search(r"heat_pump energy +([0-9.]+) ->", lines[1]).group(1)
        assert float(energy) == pytest.approx(hours.hp_kw.sum() / 7, abs=0.05)
        bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "constant_action_check.py"),
                              str(out / "runs" / "maddpg-ps" / "seed0"), "--hours", "5-2"], capture_output=True, text=True,
                             cwd=ROOT)
        assert bad.returncode != 0 and "'5-2' is not a range inside 0..23" in bad.stderr
        bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "p2p_levers.py"), "x", "0", "--override",
                              "storage_credit=weekly", "--out", str(tmp_path / "bad")], capture_output=True, text=True, cwd=ROOT)
        assert bad.returncode != 0 and "storage_credit = 'weekly'" in bad.stderr and not (tmp_path / "bad").exists()
        # a report built from a study that has not finished (no study.json) names its profile and says so
        from runs.reports.p2p import build_report

        (out / "study.json").unlink()
        partial = build_report(out).read_text()
        assert "profile `tiny`" in partial and "**This study has not finished**" in partial and "1 seed(s)" in partial
    if design == "stackelberg":
        runs = sorted((out / "runs").glob("*/seed0"))
        assert len(runs) == 3  # the Stackelberg, simultaneous and small-instance learners
        assert {json.loads((run / "policy.json").read_text())["learner_config"]["leader_gamma"] for run in runs} == {0.95}
        started = json.loads((out / "study-started.json").read_text())
        assert started["profile"]["learner_config"] == {"leader_gamma": 0.95}
        # every run keeps its best snapshot on the evaluation week and the hottest training week together
        # (keep_best, selection_weeks), less what the leader's best response gains there (selection_best_response 1):
        # the curve's summed selection score less the leader's gain (the followers' NaN) is highest there; the report
        # names it
        for run in runs:
            meta = json.loads((run / "policy.json").read_text())
            curve = pd.read_csv(run / "train_curve.csv").groupby("episode")[
                ["eval_score_eur", "selection_score_eur", "best_response_gain_eur"]].sum()
            assert meta["selected_on"] == "eval:1,train:23" and (run / "policy_last.pt").exists()
            assert meta["selected_best_response_weight"] == 1.0
            weighed = curve.selection_score_eur - curve.best_response_gain_eur
            assert weighed.loc[meta["selected_episode"]] == pytest.approx(weighed.max(), rel=1e-5)
            assert meta["selected_score"] == pytest.approx(weighed.max(), rel=1e-5)  # (the CSV rounds)
            assert (curve.selection_score_eur != curve.eval_score_eur).all()  # the summer week counts too
            assert f"{run.parent.name}: seed 0 day {meta['selected_episode']}" in report
        assert ("scored best on the evaluation week (week 48) and training week 23 (week 29) together (`keep_best`, "
                "`selection_weeks`") in report
        assert "less 1 × what the design's cheap best response gains over it there (`selection_best_response`" in report
        lbr = pd.read_csv(out / "checks" / "leader_br_seed0.csv")
        assert (lbr.best_response_profit_eur >= lbr.learned_profit_eur - 1e-9).all()
        assert np.allclose(lbr.position_regret_eur + lbr.price_regret_eur, lbr.regret_eur)
        assert "position_regret" in report and "points of it the day-ahead position" in reading
        sched = pd.read_csv(out / "checks" / "leader_schedule_seed0.csv")  # the same days as the hour-by-hour check
        assert sched.day.tolist() == lbr.day.tolist()
        np.testing.assert_allclose(sched.learned_profit_eur, lbr.learned_profit_eur, rtol=1e-5)
        assert sched.schedule_profit_eur.sum() >= sched.learned_profit_eur.sum() - 1e-6
        assert len(pd.read_csv(out / "checks" / "leader_schedule_hours_seed0.csv")) == 24
        assert "schedule_points" in report and "one price schedule by hour of day reaches" in reading
        lex = pd.read_csv(out / "tables" / "leader_exploitability.csv")  # the tiny profile checks one week
        pooled = lex[lex.seed.astype(str) == "all"].iloc[-1]
        assert pooled.regret_eur == pytest.approx(lbr.regret_eur.sum(), rel=1e-5, abs=1e-6)
        assert pooled.regret_pct == pytest.approx(100 * lbr.regret_eur.sum() / abs(lbr.learned_profit_eur.sum()), rel=1e-4)
        rs = pd.read_csv(out / "checks" / "responders_seed0.csv")
        _check_responders(rs, pd.read_csv(out / "checks" / "responders_seed0-curve.csv"), episodes=2)
        # the leader and one follower per learning cluster
        assert list(rs.participant[:1]) == ["aggregator"] and list(rs.cluster[:1]) == ["leader"]
        assert sorted(rs.cluster[1:]) == ["heat-pump", "pv-battery", "pv-ev", "pv-only"]
        # the leader's learned score is its profit in the leader check over the same days
        assert rs.learned_eur.iloc[0] == pytest.approx(lbr.learned_profit_eur.sum(), rel=1e-4)
        t = rt.set_index("who")
        assert list(t.index) == ["leader", "heat-pump", "pv-battery", "pv-ev", "pv-only", "all followers"]
        assert t.loc["leader", "learned_eur_per_day"] == pytest.approx(lbr.learned_profit_eur.sum() / 7, rel=1e-4)
        assert t.loc["leader", "check_regret_eur_per_day"] == pytest.approx(lbr.regret_eur.mean(), rel=1e-4)
        follower = rs.iloc[1]  # a follower's measure is its cost: its learned score with the sign flipped
        assert t.loc[follower.cluster, "learned_eur_per_day"] == pytest.approx(-follower.learned_eur / 7, rel=1e-4)
        assert np.allclose(t.gain_eur_per_day, np.where(t.measure == "profit", 1, -1)
                           * (t.responder_eur_per_day - t.learned_eur_per_day), rtol=1e-4, atol=1e-4)
        assert "check_regret_eur_per_day" in report and "**gain + = the responder does better**" in report
        exact = pd.read_csv(out / "tables" / "exact_solution.csv")
        assert (exact.exact_profit_eur >= exact.tariff_profit_eur - 1e-9).all()  # the argmax is no worse than the tariffs
        # scripts/stackelberg_levers.py on the study's run gives the study's check and the evaluation's comfort
        lever = subprocess.run([sys.executable, str(ROOT / "scripts" / "stackelberg_levers.py"), "study-run", "0",
                                "--profile", "tiny", "--run", str(out / "runs" / "stackelberg" / "seed0"),
                                "--responders", "--out", str(tmp_path / "levers")], capture_output=True, text=True, cwd=ROOT)
        assert lever.returncode == 0, lever.stderr
        r = json.loads(lever.stdout.strip().splitlines()[-1])
        assert r["leader"]["all"]["regret_pct"] == pytest.approx(pooled.regret_pct, rel=1e-4)
        assert r["leader"]["test:2"]["follower_cost_eur_per_day"] == pytest.approx(lbr.learned_follower_cost_eur.mean(), rel=1e-5)
        study_days = pd.read_csv(out / "tables" / "days.csv")
        comfort = study_days[(study_days.method == "stackelberg") & (study_days.week == "test:2")].comfort_violation_kh.mean()
        assert r["heat_pumps"]["test:2"]["comfort_violation_kh_per_day"] == pytest.approx(comfort, rel=1e-5, abs=1e-9)
        chosen = study_days[(study_days.method == "stackelberg") & (study_days.seed == 0) & (study_days.week == "test:2")]
        for key, column in (("imbalance_kwh_per_day", "imbalance_kwh"), ("imbalance_cost_eur_per_day", "imbalance_cost_eur")):
            assert r["imbalance"]["test:2"][key] == pytest.approx(chosen[column].mean(), rel=1e-5), key
        assert r["imbalance"]["test:2"]["position_swing_kw"] > 0
        fbr = pd.read_csv(out / "checks" / "follower_br_seed0.csv")  # the study's sampled followers' LP check
        assert r["followers"]["lp_regret_eur_per_follower_day"] == pytest.approx(fbr.regret_eur.mean(), abs=6e-4)
        assert set(r["followers"]["lp_regret_by_cluster"]) == set(fbr.cluster)
        # --responders trains the study's responders on the same run: the study's table, the gains in % of it
        lever_rs = pd.read_csv(tmp_path / "levers" / "study-run-seed0" / "responders.csv")
        pd.testing.assert_frame_equal(lever_rs.drop(columns="seconds"), rs.drop(columns="seconds"))
        assert r["responders"]["gain_pct"] == pytest.approx(
            {f"{c}:{p}": 100 * g for c, p, g in zip(rs.cluster, rs.participant, rs.gain_share)}, abs=0.006)
        assert r["responders"]["gain_pct_by_cluster"]["leader"] == pytest.approx(100 * rs.gain_share.iloc[0], abs=0.006)
        assert (tmp_path / "levers" / "results.jsonl").read_text().count("\n") == 1
        bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "stackelberg_levers.py"), "x", "0", "--learner-config",
                              "follower_updates_per_leader_update=0", "--out", str(tmp_path / "bad")],
                             capture_output=True, text=True, cwd=ROOT)
        assert bad.returncode != 0 and ">= 1" in bad.stderr and not (tmp_path / "bad").exists()
