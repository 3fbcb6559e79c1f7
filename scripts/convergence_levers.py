"""Measure one training lever of the arbitrage learner on paired seeds (docs/arbitrage-study.md,
"Convergence"): train the quick (or, with --profile paper, the paper) profile's HMADDPG with
overrides, then check the policy against everyone else's frozen learned policy on test weeks 1, 5, 12:

  - aggregator 5's hour-by-hour best response (coarse grid): its regret as a share of the best;
  - every aggregator's best constant up-price bid: how many fall short of it, and by how much;
  - whether each aggregator's trained critic ranks those constant bids right (`critic_ranking`);
  - with --dynamics: best-response dynamics among constant bids from the learned policies (outcome);
  - with --responders N: a trained best responder for every aggregator, N training weeks each (the
    study's `responders`; the check weeks above, the profile's validation weeks);
  - with --fitted: every aggregator's fitted up-price responder (the study's `fitted_responders`, fitted on
    the profile's `fit_weeks`, kept where it wins on the validation weeks): its gain over the learned policy;
  - with --fictitious-play N: N iterations of fictitious play over each aggregator's learned policy and
    its constant bids (`constant_bid_fictitious_play`): how close mixed strategies get to an equilibrium;
  - with --fitted-play N: N iterations of fictitious play over fitted best responders on the profile's
    `fit_weeks` (`runs.studies.arbitrage_fitted_play`), and every check above (but the critics') run on the
    policy it ends with instead of the learned one (its history and policy file go to the output folder);
  - with --two-stage-play N: the same for N iterations of fictitious play over fitted two-stage responders
    (withholding and up price, `runs.studies.arbitrage_two_stage.two_stage_play`) on --two-stage-play-weeks;
  - with --two-stage: every aggregator's fitted two-stage responder (withholding and up price; the study's
    `two_stage_responders`, fitted on the profile's `two_stage_weeks`) against the policy checked;
  - with --along-training K: the run keeps its policy every K episodes, and every aggregator is checked against
    constant bids at each snapshot on the profile's `along_training_weeks` (the study's `along_training`): the
    summed gain as a share of all aggregators' earnings, snapshot by snapshot (with --run: that run's snapshots).
With --run DIR the checks run on that trained run (e.g. a study's runs/one-arb/seed0) instead of training.

    .venv/bin/python scripts/convergence_levers.py NAME SCENARIO SEED [name=value ...] [--out DIR]
                                [--profile quick|paper] [--episodes N] [--dynamics] [--responders N]
                                [--fictitious-play N] [--fitted] [--fitted-play N] [--two-stage-play N]
                                [--two-stage] [--along-training K] [--run DIR]

prints one JSON line (and appends it to DIR/results.jsonl; default runs/out/levers)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runs.studies import arbitrage_best_response as br  # noqa: E402
import pandas as pd  # noqa: E402

from runs.reports.arbitrage import along_training_table, every_aggregator_table, fitted_responder_table  # noqa: E402
from runs.studies.arbitrage import PROFILES, fitted_responders, responders  # noqa: E402
from runs.studies.arbitrage_fitted_play import gain_shares  # noqa: E402
from agents.learning.hyperparams import HyperParams  # noqa: E402
from runs.training import design_hyperparams, load_trained_policy, train  # noqa: E402

WEEKS = ["test:1", "test:5", "test:12"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("scenario")
    ap.add_argument("seed", type=int)
    ap.add_argument("sets", nargs="*", help="hyperparameter overrides name=value (on top of the profile's)")
    ap.add_argument("--profile", default="quick", choices=("quick", "paper"), help="whose hyperparameters and episodes")
    ap.add_argument("--episodes", type=int, help="default: the profile's")
    ap.add_argument("--dynamics", action="store_true", help="also run best-response dynamics among constant bids")
    ap.add_argument("--responders", type=int, default=0, help="train every aggregator's best responder for N weeks")
    ap.add_argument("--fictitious-play", type=int, default=0, metavar="N",
                    help="N iterations of fictitious play over learned and constant bids")
    ap.add_argument("--fitted", action="store_true", help="also fit every aggregator's up-price responder")
    ap.add_argument("--fitted-play", type=int, default=0, metavar="N",
                    help="check the policy N iterations of fictitious play over fitted responders end with")
    ap.add_argument("--fitted-play-value-weight", type=float, default=1.0, metavar="W",
                    help="fitted play: weight of each iteration's values in the moving average the responders fit (1: none)")
    ap.add_argument("--fitted-play-linear", action="store_true", help="fitted play: round s drawn with weight s + 1")
    ap.add_argument("--fitted-play-keep", default="last", choices=("last", "chosen"),
                    help="fitted play: play the final populations or those of the iteration with the smallest largest gain")
    ap.add_argument("--fitted-play-weeks", default=None, metavar="W1,W2,...|busy:K",
                    help="the weeks fitted play learns on (default: the profile's fit_weeks); busy:K: the K training "
                         "weeks with the most LFM hours under truthful bids")
    ap.add_argument("--two-stage-play", type=int, default=0, metavar="N",
                    help="check the policy N iterations of fictitious play over fitted two-stage responders keep")
    ap.add_argument("--two-stage-play-weeks", default=None, metavar="W1,W2,...|busy:K[+spread:M]",
                    help="the weeks the two-stage play learns on (default: the profile's two_stage_play_weeks)")
    ap.add_argument("--two-stage-play-window", type=int, default=None,
                    help="iterations of values each round is fitted on (default: the profile's two_stage_play_window)")
    ap.add_argument("--two-stage-play-rounds", choices=("linear", "uniform"), default=None,
                    help="how the play's mixture weighs its rounds (default: the profile's two_stage_play_rounds)")
    ap.add_argument("--two-stage", action="store_true",
                    help="also fit every aggregator's two-stage (withholding and up price) responder")
    ap.add_argument("--along-training", type=int, default=0, metavar="K",
                    help="keep the policy every K episodes and check every aggregator against constant bids at each")
    ap.add_argument("--run", help="check this trained run instead of training one (no overrides then)")
    ap.add_argument("--out", default="runs/out/levers")
    a = ap.parse_args()
    if a.fitted_play and a.two_stage_play:
        ap.error("--fitted-play and --two-stage-play each make the policy checked: choose one")
    if (a.fitted_play or a.two_stage_play) and (a.dynamics or a.responders or a.fictitious_play):
        ap.error("--fitted-play checks the fitted play's policy: --dynamics, --responders and --fictitious-play start "
                 "from the learned policy; run them without --fitted-play")
    if a.two_stage_play_window is not None and a.two_stage_play_window < 1:
        ap.error("--two-stage-play-window must be >= 1")
    if a.run and a.sets:
        ap.error(f"--run checks a trained run as it is; drop the overrides {a.sets} or train without --run")
    prof = PROFILES[a.profile]
    base = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in prof.hp_overrides.items()]
    hp = dataclasses.replace(design_hyperparams(a.scenario, base + a.sets), episodes=a.episodes or prof.episodes)
    out = Path(a.out)
    run = out / f"{a.name}-{a.scenario}-{a.seed}"
    t0 = time.perf_counter()
    if a.run:
        run.mkdir(parents=True, exist_ok=True)  # this script's outputs; the trained run is only read
    else:
        train(a.scenario, seed=a.seed, out=run, eval_every=hp.episodes, hp=hp, checkpoint_every=10**9, progress=False,
              overwrite=True, snapshot_every=a.along_training)
    t1 = time.perf_counter()
    along = None
    if a.along_training:
        along = br.constant_bids_along_training(a.scenario, Path(a.run) if a.run else run,
                                                list(prof.along_training_weeks), br.COARSE, seed=a.seed)
        along.to_csv(run / "along_training.csv", index=False, float_format="%.6g")
    policy_dir = Path(a.run) if a.run else run
    learned, meta = load_trained_policy(policy_dir)
    if a.run:
        hp = HyperParams.from_dict(meta["hyperparams"])
    played = None  # the fitted play's policy, checked instead of the learned one
    if a.fitted_play:
        from runs.studies.arbitrage_fitted_play import resolve_fit_weeks, run_fitted_play

        t_fp = time.perf_counter()
        fp_weeks = resolve_fit_weeks(a.scenario, a.fitted_play_weeks, a.seed) if a.fitted_play_weeks else list(prof.fit_weeks)
        hist, played = run_fitted_play(a.scenario, learned, fp_weeks, a.fitted_play, seed=a.seed,
                                       new_value_weight=a.fitted_play_value_weight, linear=a.fitted_play_linear,
                                       keep=a.fitted_play_keep)
        hist.to_csv(run / "fitted_play.csv", index=False)
        played.save(run / "fitted_play.npz", base_sha256=meta["tensor_sha256"])
        last = hist[hist.iteration == played.population - 1]  # the populations it plays (keep: last or chosen)
        played_res = {"fitted_play_iterations": a.fitted_play, "fitted_play_value_weight": a.fitted_play_value_weight,
                           "fitted_play_linear": a.fitted_play_linear, "fitted_play_weeks": fp_weeks,
                           "fitted_play_keep": a.fitted_play_keep, "fitted_play_population": played.population, "fitted_play_s": round(time.perf_counter() - t_fp, 1),
                           "fitted_play_max_constant_gain_in_sample": float(last.constant_gain_share.max())}
        learned = played
    if a.two_stage_play:
        from runs.studies.arbitrage_fitted_play import resolve_fit_weeks
        from runs.studies.arbitrage_two_stage import two_stage_play

        t_fp = time.perf_counter()
        fp_weeks = resolve_fit_weeks(a.scenario, a.two_stage_play_weeks or prof.two_stage_play_weeks, a.seed)
        window = a.two_stage_play_window if a.two_stage_play_window is not None else prof.two_stage_play_window
        rounds = a.two_stage_play_rounds or prof.two_stage_play_rounds
        hist, played = two_stage_play(a.scenario, learned, fp_weeks, a.two_stage_play, seed=a.seed,
                                      window=window, linear=rounds == "linear",
                                      progress=lambda t, rows: print(f"two-stage play iteration {t}: largest fixed gain "
                                                                     f"{max(r['fixed_gain_share'] for r in rows):.3f}, "
                                                                     f"{time.perf_counter() - t_fp:.0f} s", file=sys.stderr, flush=True))
        chosen = int(hist[hist.chosen].iteration.iloc[0])
        played.population = chosen + 1
        hist.to_csv(run / "two_stage_play.csv", index=False)
        played.save(run / "two_stage_play.npz", base_sha256=meta["tensor_sha256"])
        kept = hist[hist.iteration == chosen]
        played_res = {"two_stage_play_iterations": a.two_stage_play, "two_stage_play_weeks": fp_weeks,
                           "two_stage_play_window": window, "two_stage_play_rounds": rounds,
                           "two_stage_play_population": played.population,
                           "two_stage_play_s": round(time.perf_counter() - t_fp, 1),
                           "two_stage_play_max_fixed_gain_in_sample": float(kept.fixed_gain_share.max())}
        learned = played
    validation = list(prof.responder_validation_weeks)
    cp_all = br.constant_prices(a.scenario, learned, WEEKS + validation, seed=a.seed)
    cp_all["use"] = cp_all.week.map(lambda w: "validation" if w in validation else "check")
    cp = br.summarise_constant_prices(cp_all[cp_all.use == "check"])
    ag = every_aggregator_table(cp_all.assign(scenario=a.scenario, seed=a.seed), pd.DataFrame(), [a.scenario])
    b = br.summarise_best_response(br.best_response(a.scenario, learned, WEEKS, 5, br.COARSE, seed=a.seed))
    short = cp.shortfall_eur > 1e-3 * cp.best_constant_up_eur.abs() + 1e-6
    res = {"name": a.name, "profile": a.profile, "scenario": a.scenario, "seed": a.seed, "sets": a.sets,
           "run": str(policy_dir), "episodes": hp.episodes, "train_s": None if a.run else round(t1 - t0, 1),
           "agg5_learned_eur_per_week": b.learned_eur.sum() / len(WEEKS), "agg5_regret_share": b.regret_eur.sum() / b.best_eur.sum(),
           "all_learned_eur_per_week": cp.learned_eur.sum() / len(WEEKS),
           "aggregators_below_constant": int(short.sum()),
           "aggregators_below_validated_constant": int((ag.seeds_at_least_constant < ag.seeds).sum()),
           "aggregators_clearly_below_validated_constant": int((ag.seeds_clearly_short > 0).sum()),
           "shortfall_eur_per_week": cp.shortfall_eur.clip(lower=0).sum() / len(WEEKS)}
    if along is not None:
        at = along_training_table(along.assign(scenario=a.scenario, seed=a.seed), [a.scenario])
        res |= {"along_training_weeks": list(prof.along_training_weeks),
                "along_training": [[int(e), round(float(g), 4), int(n)]  # episode, summed gain share, aggregators > 1 %
                                   for e, g, n in zip(at.episode, at.summed_gain_share, at.aggregators_gaining)]}
    if played is not None:
        res |= played_res
    else:  # the critics are the learned policy's
        cr = br.critic_ranking(a.scenario, learned, cp_all[cp_all.use == "check"], seed=a.seed)
        m = cr[cr.levels_matter]
        res |= {"critic_picks_best_share": float(m.critic_picks_best.mean()),  # pooled over aggregators (hours where price matters)
                "agg5_critic_picks_best_share": float(m[m.aggregator == 5].critic_picks_best.mean()),
                "critic_pick_eur_per_week": cr.critic_pick_eur.sum() / len(WEEKS),
                "best_price_per_hour_eur_per_week": cr.true_best_eur.sum() / len(WEEKS)}
    if a.dynamics:
        learned, _ = load_trained_policy(policy_dir)
        dyn = br.constant_bid_dynamics(a.scenario, learned, WEEKS, br.COARSE, seed=a.seed)
        res["constant_bid_dynamics"] = dyn.outcome.iloc[0]
        dyn.to_csv(run / "constant_bid_dynamics.csv", index=False)
    if a.responders:
        prof = dataclasses.replace(prof, responder_episodes=a.responders, br_weeks=tuple(WEEKS))
        responders(policy_dir, run / "responders.csv", a.scenario, prof, hp, a.seed)
        r = pd.read_csv(run / "responders.csv")
        share = gain_shares(r.gain_eur.to_numpy(), r.learned_eur.to_numpy())  # the report's floored base
        res |= {"responder_weeks": a.responders, "responders_within_10pct": int((share <= 0.10).sum()),
                "responders": len(r), "responder_max_gain_share": float(share.max())}
    if a.fitted:
        cp_file = run / "constant_prices.csv"
        cp_all.to_csv(cp_file, index=False, float_format="%.6g")  # as the study writes it
        fitted_responders(policy_dir, run / "fitted_responders.csv", cp_file, a.scenario, prof, a.seed, policy=played)
        ft = fitted_responder_table(pd.read_csv(run / "fitted_responders.csv").assign(scenario=a.scenario, seed=a.seed),
                                    [a.scenario])
        agg5 = ft[ft.aggregator == 5].iloc[0]
        res |= {"fitted_over_10pct": int((ft.exploitability_share > 0.10).sum()),
                "fitted_max_share": float(ft.exploitability_share.max()),
                "agg5_fitted_gain_share": float(agg5.exploitability_share),
                "agg5_fitted_share_of_up_price_regret": float(agg5.exploitability_eur_per_week / max(
                    agg5.best_up_price_per_hour_eur_per_week - agg5.learned_eur_per_week, 1e-9))}
    if a.two_stage:
        from runs.reports.arbitrage import summarise_two_stage
        from runs.studies.arbitrage import two_stage_responders

        t_ts = time.perf_counter()
        two_stage_responders(policy_dir, run / "two_stage.csv", a.scenario,
                             dataclasses.replace(prof, br_weeks=tuple(WEEKS)), a.seed, policy=learned)  # as the study's step
        tt = summarise_two_stage(pd.read_csv(run / "two_stage.csv"))
        res |= {"two_stage_s": round(time.perf_counter() - t_ts, 1), "two_stage_over_10pct": int((tt.gain_share > 0.10).sum()),
                "two_stage_max_share": float(tt.gain_share.max()),
                "two_stage_gain_share": {int(r.aggregator): round(float(r.gain_share), 4) for r in tt.itertuples()}}
    if a.fictitious_play:
        learned, _ = load_trained_policy(policy_dir)
        t_fp = time.perf_counter()
        hist, mix = br.constant_bid_fictitious_play(a.scenario, learned, WEEKS, br.COARSE, seed=a.seed,
                                                    iterations=a.fictitious_play)
        res["fp_s"] = round(time.perf_counter() - t_fp, 1)  # wall time of the play (one process)
        hist.to_csv(run / "fictitious_play.csv", index=False)
        mix.to_csv(run / "fictitious_play_mixtures.csv", index=False)
        last = hist[hist.chosen]  # the mixtures kept: the iteration whose largest gain was smallest
        res |= {"fp_iterations": a.fictitious_play, "fp_chosen_iteration": int(last.iteration.iloc[0]),
                "fp_max_exploitability_share": float(last.exploitability_share.max()),
                "fp_aggregators_over_1pct": int((last.exploitability_share > 0.01).sum()),
                "fp_gap_eur_per_week": float((last.best_eur_per_week - last.mixture_eur_per_week).sum()),
                "fp_all_mixture_eur_per_week": float(last.mixture_eur_per_week.sum())}
    print(json.dumps(res))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
