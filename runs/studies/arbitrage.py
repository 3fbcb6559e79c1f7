"""The arbitrage paper's study: train S-a, one-arb and all-arb (and, in the paper profile, the
location swap) with several seeds, evaluate them, compare with baselines, check aggregator 5's
best response, and write the report (`runs.reports.arbitrage`).

Folder layout under --out:
  runs/<scenario>/seed<k>/     training run folders (`localmarl train`); their checkpoints (replay
                               buffers, ~40 MB) are removed once a run has finished
  eval/<scenario>/seed<k>/     scores.csv, hours.csv on the test weeks and the evaluation week
  baselines/<policy>[-swap]/   the same for truthful bidding and the rule-based strategy
  best_response/<scenario>-seed<k>.csv   aggregator 5's learned vs best-found reward, per hour
  constant_prices/<scenario>-seed<k>.csv every aggregator's learned reward vs each constant up-price bid, per hour,
                                         on the best-response weeks (use = check) and the validation weeks
  critic_ranking/<scenario>-seed<k>.csv  per aggregator and LFM-active hour of those weeks: does its own trained
                                         critic rank the constant up prices right (the true value of its best one)?
  constant_bid_dynamics/<scenario>-seed<k>.csv  best-response dynamics among constant up-price bids from the learned
                                         policies (round, aggregator, price, € before/after; its outcome:
                                         a pure equilibrium or a cycle)
  fictitious_play/<scenario>-seed<k>.csv fictitious play over each aggregator's learned bids and constant up prices
                                         (the best-response weeks): every aggregator's mixture value and best
                                         option per iteration; -mixtures.csv the mixtures kept; -validation.csv the
                                         learned and the mixed profiles scored on the validation weeks; -scores.csv,
                                         -hours.csv the mixtures played on the evaluation weeks (as eval/ has them)
  regret_matching/<scenario>-seed<k>.csv regret matching over each aggregator's learned bids and constant up prices (the
                                         best-response weeks, first `responder_seeds` seeds): per iteration and
                                         aggregator its mixture's value, the correlated play's average and its best
                                         option's; -mixtures.csv every iteration's mixtures; -scores.csv the learned
                                         profile and the correlated play on those weeks and on the validation weeks;
                                         -buckets*.csv the same play by congestion bucket fitted on training weeks
                                         (`rm_buckets`, first `play_seeds` seeds): history, mixtures, edges, scores
                                         on the fit, check and validation weeks, and -buckets-hours.csv each hour's
                                         values there;
                                         -buckets-policy.npz that play as a policy, -buckets-play-scores.csv and
                                         -buckets-play-hours.csv it played on the evaluation weeks (as eval/ has them)
  fitted_responders/<scenario>-seed<k>.csv  every aggregator's fitted up-price responder (first `responder_seeds`
                                         seeds): a network fitted on the market's values of the constant up prices
                                         on `fit_weeks`, its picks per hour of the validation and check weeks
  fitted_play/<scenario>-seed<k>.csv     fictitious play over fitted best responders (`arbitrage_fitted_play`, first
                                         `responder_seeds` seeds): its history per iteration and aggregator;
                                         -policy.npz the policy kept; -constant_prices.csv, -best_response.csv,
                                         -fitted_responders.csv that policy checked as constant_prices/,
                                         best_response/ and fitted_responders/ check the learned one
  two_stage/<scenario>-seed<k>.csv       every aggregator's fitted two-stage responder (first `responder_seeds` seeds;
                                         `arbitrage_two_stage`): its withholding and up price fitted on the market's
                                         values on `two_stage_weeks`, its picks per hour of the validation and check
                                         weeks; fitted_play/<scenario>-seed<k>-two_stage.csv the same against the
                                         fitted-play policy
  two_stage_play/<scenario>-seed<k>.csv  fictitious play over fitted two-stage responders (`two_stage_play`, first
                                         `responder_seeds` seeds, scenarios where every aggregator arbitrages): its
                                         history; -policy.npz the policy kept; -constant_prices.csv, -best_response.csv,
                                         -two_stage.csv that policy checked as the learned one is
  responders/<scenario>-seed<k>.csv      every aggregator's trained best responder: its gain over its learned
                                         policy on the best-response weeks (`runs.best_response`), and
                                         responders/<scenario>-seed<k>-curve.csv its evaluation-week curve
  along_training/<scenario>-seed<k>.csv  every aggregator against constant up-price bids at each policy snapshot
                                         (`snapshot_every`, first `responder_seeds` seeds or, with `hand_on_nearest`,
                                         every seed) on `along_training_weeks`
  snapshot_choice/<scenario>-seed<k>.csv with `hand_on_nearest`: the same on the validation weeks for every snapshot
                                         after episode 0 (`choose_snapshot`), the one handed on as policy.pt marked
                                         `chosen` (the run's last policy stays as policy_last.pt); the snapshots are
                                         removed once both are written
  tables/, figures/, report.md, study.json
  study-started.json            the settings the study was started with (`--resume` refuses other ones)
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from agents.learning.checkpoint import POLICY_META, SNAPSHOTS
from model.atomic import write_csv_atomic
from model.designs.arbitrage import PAPER
from runs.executor import Job
from runs.study import Profile, expected_training_s, profile_hyperparams, resumes, run_folder, training_watch


@dataclass(frozen=True)
class ArbitrageProfile(Profile):
    br_weeks: tuple[str, ...] = ()  # weeks of the best-response check
    br_grid: str = "fine"
    br_max_hours: int | None = None  # hours per best-response week (None = all 168)
    br_seeds: int | None = None  # run the best-response check for the first k seeds (None = all)
    responder_validation_weeks: tuple[str, ...] = ("eval:1", "test:2", "test:11")  # where a responder's actor is chosen
    responder_episodes: int = 0  # training budget of each aggregator's trained best responder (0: none)
    responder_seeds: int = 1  # train best responders for every aggregator of the first k seeds
    dynamics_rounds: int = 12  # rounds of best-response dynamics among constant bids (first `responder_seeds` seeds; 0: none)
    fp_iterations: int = 0  # fictitious play over learned and constant bids (0: none)
    fp_seeds: int | None = None  # run it for the first k seeds (None: all)
    rm_iterations: int = 0  # regret matching over learned and constant bids on `br_weeks`, its correlated play also
    # scored on the validation weeks (`regret_matching_play`; first `responder_seeds` seeds; 0: none)
    rm_buckets: int = 0  # and as many buckets of the feeder's scheduled injection, one regret matching each, on
    # `rm_fit_weeks`, judged on the check and validation weeks (`bucketed_regret_matching`; 0: none)
    rm_fit_weeks: tuple[str, ...] = ()  # the training weeks that play is fitted on (empty: `fit_weeks`)
    rm_bucket_quantiles: tuple[float, ...] = ()  # its inner bucket edges as quantiles of those hours' feature, rising,
    # `rm_buckets` - 1 of them (empty: buckets of equal counts; `bucket_edges`)
    play_seeds: int = 1  # that play (`rm_buckets`) and its play on the evaluation weeks (`play_by_congestion`) for the
    # first k seeds, so that the report judges the paper's orderings under it seed by seed, paired as the learned ones
    fit_weeks: tuple[str, ...] = ()  # weeks a fitted up-price responder learns the market's values on (first
    # `responder_seeds` seeds; none: no fitted responders)
    fitted_play_iterations: int = 0  # fictitious play over fitted responders (first `responder_seeds` seeds; 0: none)
    fitted_play_weeks: str = "busy:7"  # the weeks it learns on (`resolve_fit_weeks`)
    fitted_play_fit_steps: tuple[int, int] = (3000, 300)  # Adam steps fitting the responders: first iteration, later ones
    fitted_responder_steps: int = 3000  # Adam steps fitting each fitted up-price responder (`fitted_up_price_responder`)
    two_stage_weeks: str = ""  # weeks the fitted two-stage responders learn on (`resolve_fit_weeks`; "": none)
    two_stage_play_iterations: int = 0  # fictitious play over fitted two-stage responders (first `responder_seeds`
    # seeds, scenarios where every aggregator arbitrages; 0: none) with `fitted_play_fit_steps`
    two_stage_play_weeks: str = "busy:7"  # the weeks it learns on (`resolve_fit_weeks`)
    two_stage_play_rounds: str = "linear"  # how its mixture weighs round s: "linear" (s + 1) or "uniform"
    two_stage_play_window: int = 4  # each round is fitted on the values of the last this many iterations
    snapshot_every: int = 0  # episodes between the policy snapshots checked against constant bids along training
    # (`constant_bids_along_training` on `along_training_weeks`; first `responder_seeds` seeds, every seed with
    # `hand_on_nearest`, so that the report judges each run's choice on weeks it was not made on; 0: none)
    along_training_weeks: tuple[str, ...] = ("test:1", "test:5", "test:12")  # the weeks it is checked on (the quick
    # profile's check weeks: its policy handed on is the every-aggregator table's seed 0; the evaluation week alone, 22 hours
    # in which the DSO buys in one-arb, hid swings of 4-65 % there: docs/arbitrage-study.md, stop 64)
    hand_on_nearest: bool = False  # every seed keeps snapshots (`snapshot_every`) and hands on the one nearest an
    # equilibrium of constant up-price bids on `responder_validation_weeks` (`choose_snapshot`; the last as policy_last.pt;
    # measured on the full quick study, stop 65: docs/arbitrage-study.md, "Handing on the nearest snapshot")

    def __post_init__(self):
        """A profile with a value no step can run is refused when it is made (`dataclasses.replace` too),
        not hours later when its step comes."""
        problems = []
        if self.two_stage_play_rounds not in ("linear", "uniform"):
            problems.append(f"two_stage_play_rounds must be 'linear' or 'uniform' (got {self.two_stage_play_rounds!r})")
        if self.two_stage_play_window < 1:
            problems.append(f"two_stage_play_window must be at least 1 iteration (got {self.two_stage_play_window})")
        for name in ("responder_episodes", "responder_seeds", "dynamics_rounds", "fp_iterations", "rm_iterations",
                     "rm_buckets", "play_seeds", "fitted_play_iterations",
                     "two_stage_play_iterations", "fitted_responder_steps", "snapshot_every"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be 0 or more (got {getattr(self, name)})")
        if self.hand_on_nearest and not (self.snapshot_every and self.responder_validation_weeks):
            problems.append("hand_on_nearest needs snapshot_every > 0 and responder_validation_weeks to choose on")
        if min(self.fitted_play_fit_steps) < 1:
            problems.append(f"fitted_play_fit_steps must be positive (got {self.fitted_play_fit_steps})")
        if self.br_grid not in ("fine", "coarse", "tiny"):
            problems.append(f"br_grid must be 'fine', 'coarse' or 'tiny' (got {self.br_grid!r})")
        problems += _fit_week_problems("rm_fit_weeks", self.rm_fit_weeks, self.br_weeks)
        q = self.rm_bucket_quantiles
        if q and (len(q) != self.rm_buckets - 1 or not all(0 < x < 1 for x in q) or list(q) != sorted(set(q))):
            problems.append(f"rm_bucket_quantiles must be rm_buckets - 1 = {self.rm_buckets - 1} rising quantiles in "
                            f"(0, 1) (got {q})")
        if problems:
            raise ValueError(f"arbitrage profile {self.name!r}: " + "; ".join(problems))


def _fit_week_problems(name: str, labels, check_weeks) -> list[str]:
    """What is wrong with `labels` as weeks a play is fitted on: each one week (`dataset.resolve_week`), none of the
    weeks it is judged on (`check_weeks`)."""
    from model import dataset

    if not labels:
        return []
    problems, check = [], {w for label in check_weeks for w in dataset.resolve_week(label)}
    for label in labels:
        try:
            weeks = dataset.resolve_week(label)
        except ValueError as e:
            problems.append(f"{name}: {e}")
            continue
        if len(weeks) != 1:
            problems.append(f"{name}: {label!r} is {len(weeks)} weeks; name one week each (e.g. 'train:3')")
        elif weeks[0] in check:
            problems.append(f"{name}: {label!r} is one of the check weeks (br_weeks) it would be judged on")
    return problems


SA, ONE, ALL = PAPER.scenarios
FIT_WEEKS = tuple(f"train:{k}" for k in range(1, 40, 3))  # 13 training weeks, every season
TRAIN_WEEKS = tuple(f"train:{k}" for k in range(1, 40))  # all 39 training weeks
SA_SWAP, _, ALL_SWAP = PAPER.swapped

PROFILES = {
    "quick": ArbitrageProfile(
        "quick", (SA, ONE, ALL), episodes=800, seeds=5, eval_every=25, checkpoint_every=200, snapshot_every=100,
        hand_on_nearest=True,
        hp_overrides={"lr_actor": 1e-3, "noise_sigma_final": 0.01, "updates_per_episode": 20, "gamma": 0.0,
                      "per_agent_batches": True},
        br_weeks=("test:1", "test:5", "test:12"), br_grid="coarse", responder_episodes=200, fp_iterations=150,
        rm_iterations=300, rm_buckets=4, play_seeds=5, fit_weeks=FIT_WEEKS, fitted_play_iterations=40,
        two_stage_weeks="busy:7", two_stage_play_iterations=12,
        two_stage_play_weeks="busy:7+spread:3",
        note="short runs: 800 episodes (paper 5000). To learn anything in 6x fewer episodes, the reconstructed actor "
             "learning rate (1e-4 -> 1e-3) is raised, and two paper values "
             "change: 20 updates per episode instead of 5 (measured on one-arb, 2 seeds: aggregator 5's test score "
             "1594 -> 2822 euro/week), and gamma 0.99 -> 0. No action changes the next hour's observation (prices, "
             "loads and renewables are data; nothing is stored), so dQ/da = dr/da for every gamma and the policy "
             "gradient is the same in expectation; gamma = 0.99 only makes the critics fit ~100 hours of future reward "
             "that no action influences. Measured, 6 seeds against 3 with gamma = 0.99 (the report's paired table): the "
             "steps S-a < one-arb and one-arb < all-arb are +725 +- 845 and +912 +- 347 euro/week instead of "
             "+674 +- 2,136 and +1,778 +- 2,517; aggregator 5's one-arb findings hold in 6/5/5 of 6 seeds. Each sub-agent "
             "draws its own mini-batch (the paper's Algorithm 1) and the final exploration noise is the reconstructed "
             "0.01 (it was 0.05): measured together on the full quick study, aggregator 5's regrets 58/27/34 % instead "
             "of 63/36/39 % (docs/arbitrage-study.md, 'Convergence'). Training does not settle: the profile swings "
             "between snapshots, so each run hands on, of its snapshots every 100 episodes, the one nearest an equilibrium "
             "of constant up-price bids on the validation weeks (eval:1, test:2, test:11), not the last (measured on "
             "this study against handing on the last, stop 65: every aggregator's best constant bid on the check weeks "
             "adds 5.6 % instead of 10.8 % of their earnings, lower in 12 of 15 runs; trained best responders gain "
             "<= 10 % for 30 of 30 aggregators instead of 25). Best response on 3 of 12 test weeks with a coarse "
             "grid; every aggregator against constant bids and a trained best responder (200 weeks, seed 0), and "
             "against constant bids at 9 policy snapshots along training (every 100 episodes, every seed, the check weeks); "
             "best-response dynamics among constant bids (seed 0); 150 iterations of fictitious play over learned and constant "
             "bids (every seed); 300 iterations of regret matching over the same options (seed 0), whose play is a "
             "coarse correlated equilibrium to within the aggregators' regret, and 300 per bucket of the feeder's "
             "scheduled injection (4 buckets) on the 13 training weeks, judged on the check weeks and played on the test "
             "weeks (every seed, so that the orderings under it are paired); 40 iterations of "
             "fictitious play over fitted best responders on the 7 busiest training weeks, its policy checked like the learned one (seed 0); fitted two-stage (withholding and up price) responders "
             "on those weeks for the learned and the fitted-play policy (seed 0); 12 iterations of fictitious play over fitted "
             "two-stage responders where every aggregator arbitrages (all-arb, seed 0), on those weeks and 3 quieter ones "
             "(busy:7+spread:3: fitted on busy weeks alone, the play withholds in quiet weeks too, where it loses)",
    ),
    "paper": ArbitrageProfile(
        "paper", (SA, ONE, ALL, SA_SWAP, ALL_SWAP), episodes=5000, seeds=3, eval_every=50,
        checkpoint_every=250, snapshot_every=500, br_weeks=tuple(f"test:{i}" for i in range(1, 13)), br_grid="fine", br_seeds=1,
        responder_episodes=1000, fp_iterations=150, rm_iterations=300, rm_buckets=4, play_seeds=3, fit_weeks=FIT_WEEKS,
        fitted_play_iterations=40,
        two_stage_weeks="busy:7", two_stage_play_iterations=12,
        two_stage_play_weeks="busy:7+spread:3",
        note="the paper's 5000 episodes and hyperparameters; best response on all 12 test weeks (seed 0), fine grid; "
             "every aggregator against constant bids at 11 policy snapshots along training (every 500 episodes, seed 0, "
             "test weeks 1, 5 and 12); "
             "150 iterations of fictitious play over learned and constant bids on those weeks (every seed), 300 of regret "
             "matching over them (seed 0), and 300 per bucket of the feeder's scheduled injection (4 buckets) on 13 "
             "training weeks (every seed); 40 iterations of "
             "fictitious play over fitted best responders and fitted two-stage responders, 12 of fictitious play over "
             "fitted two-stage responders where every aggregator arbitrages (seed 0; the 7 busiest and 3 other training weeks)",
    ),
    "tiny": ArbitrageProfile(
        "tiny", (SA, ONE, ALL), episodes=2, seeds=1, eval_every=1, checkpoint_every=1, snapshot_every=1, hand_on_nearest=True,
        along_training_weeks=("test:1",),
        eval_weeks=("test:1", "test:2", "eval:1"), br_weeks=("test:1",), br_grid="tiny", br_max_hours=24, responder_episodes=2,
        responder_validation_weeks=("eval:1",), dynamics_rounds=2, fp_iterations=3, rm_iterations=3, rm_buckets=2,
        fit_weeks=("train:1", "train:2"),
        fitted_play_iterations=2, fitted_play_weeks="train:1", fitted_play_fit_steps=(200, 50),
        fitted_responder_steps=200, two_stage_weeks="train:1", two_stage_play_iterations=1, two_stage_play_weeks="train:2",
        note="smoke test of the pipeline: 2 episodes, 1 test week; its numbers mean nothing",
    ),
}


def location_of(scenario: str) -> str:
    return "swap" if PAPER.is_swapped(scenario) else "base"


def learned_job(out: str, profile: ArbitrageProfile, scenario: str, seed: int, episodes: int, device: str,
                resume: bool) -> dict:
    """Train one scenario and seed, evaluate it, and run the best-response check for aggregator 5."""
    import torch

    from runs.studies import arbitrage_best_response as br
    from runs.training import evaluate_run, load_trained_policy, train

    torch.set_num_threads(1)
    out = Path(out)
    run_dir = run_folder(out, scenario, seed)
    eval_dir = out / "eval" / scenario / f"seed{seed}"
    br_file = out / "best_response" / f"{scenario}-seed{seed}.csv"
    t0 = time.perf_counter()
    hp = profile_hyperparams(scenario, profile, episodes)
    finished = (run_dir / POLICY_META).exists() and resume
    along_file = out / "along_training" / f"{scenario}-seed{seed}.csv"
    choice_file = out / "snapshot_choice" / f"{scenario}-seed{seed}.csv"
    snapshots = profile.snapshot_every if seed < profile.responder_seeds or profile.hand_on_nearest else 0
    if not finished:
        train(scenario, seed=seed, out=run_dir, eval_every=profile.eval_every, device=device,
              resume=resumes(run_dir, resume), hp=hp, checkpoint_every=profile.checkpoint_every, progress=False,
              snapshot_every=snapshots)
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # ~40 MB each; the final policy stays
    t1 = time.perf_counter()
    if snapshots and not (resume and along_file.exists()):
        df = br.constant_bids_along_training(scenario, run_dir, list(profile.along_training_weeks), br.COARSE, seed=seed,
                                             max_hours=profile.br_max_hours)
        along_file.parent.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(along_file, df)
    if profile.hand_on_nearest and not (resume and choice_file.exists()):
        df = br.choose_snapshot(scenario, run_dir, list(profile.responder_validation_weeks), br.COARSE, seed=seed,
                                max_hours=profile.br_max_hours)
        choice_file.parent.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(choice_file, df)  # first: a rerun hands on the same snapshot without valuing them again
    if profile.hand_on_nearest and "selected_episode" not in json.loads((run_dir / POLICY_META).read_text()):
        import pandas as pd

        br.hand_on_chosen(run_dir, pd.read_csv(choice_file))
    if (along_file.exists() or not snapshots) and (choice_file.exists() or not profile.hand_on_nearest):
        shutil.rmtree(run_dir / SNAPSHOTS, ignore_errors=True)  # ~2 MB each, checked; the policies stay
    t_along = time.perf_counter()
    if not (resume and (eval_dir / "scores.csv").exists()):
        evaluate_run(run_dir, eval_dir, weeks=list(profile.eval_weeks) if profile.eval_weeks else None, overwrite=True)
    t2 = time.perf_counter()
    do_br = profile.br_weeks and (profile.br_seeds is None or seed < profile.br_seeds)
    if do_br and not (resume and br_file.exists()):
        learned, _ = load_trained_policy(run_dir)
        grid = {"fine": br.FINE, "coarse": br.COARSE, "tiny": br.TINY}[profile.br_grid]
        df = br.best_response(scenario, learned, list(profile.br_weeks), PAPER.focus_aggregator, grid, seed=seed,
                              max_hours=profile.br_max_hours)
        br_file.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(br_file, index=False, float_format="%.6g")
    t3 = time.perf_counter()
    cp_file = out / "constant_prices" / f"{scenario}-seed{seed}.csv"
    if profile.br_weeks and not (resume and cp_file.exists()):
        learned, _ = load_trained_policy(run_dir)
        validation = [w for w in profile.responder_validation_weeks if w not in profile.br_weeks]
        df = br.constant_prices(scenario, learned, list(profile.br_weeks) + validation, grid=br.COARSE, seed=seed,
                                max_hours=profile.br_max_hours)
        df["use"] = df.week.map(lambda w: "validation" if w in validation else "check")
        cp_file.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(cp_file, index=False, float_format="%.6g")
    cr_file = out / "critic_ranking" / f"{scenario}-seed{seed}.csv"
    if cp_file.exists() and not (resume and cr_file.exists()):
        import pandas as pd

        learned, _ = load_trained_policy(run_dir)
        constant = pd.read_csv(cp_file)
        df = br.critic_ranking(scenario, learned, constant, seed=seed)
        cr_file.parent.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(cr_file, df.merge(constant[["week", "hour_of_week", "aggregator", "use"]], how="left"))
    dyn_file = out / "constant_bid_dynamics" / f"{scenario}-seed{seed}.csv"
    if (profile.dynamics_rounds and seed < profile.responder_seeds and profile.br_weeks
            and not (resume and dyn_file.exists())):
        learned, _ = load_trained_policy(run_dir)
        df = br.constant_bid_dynamics(scenario, learned, list(profile.br_weeks), br.COARSE, seed=seed,
                                      max_rounds=profile.dynamics_rounds, max_hours=profile.br_max_hours)
        dyn_file.parent.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(dyn_file, df)
    fp_file = out / "fictitious_play" / f"{scenario}-seed{seed}.csv"
    if (profile.fp_iterations and (profile.fp_seeds is None or seed < profile.fp_seeds) and profile.br_weeks
            and not (resume and fp_file.exists())):
        fictitious_play(run_dir, fp_file, scenario, profile, seed)
    if fp_file.exists() and not (resume and fp_file.with_name(fp_file.stem + "-hours.csv").exists()):
        play_mixtures(run_dir, fp_file, scenario, profile, seed)
    t_rm = time.perf_counter()
    rm_file = out / "regret_matching" / f"{scenario}-seed{seed}.csv"
    if (profile.rm_iterations and seed < profile.responder_seeds and profile.br_weeks
            and not (resume and rm_file.exists())):
        regret_matching(run_dir, rm_file, scenario, profile, seed)
    t4 = time.perf_counter()
    rmb_file = rm_file.with_name(rm_file.stem + "-buckets.csv")
    if (profile.rm_iterations and profile.rm_buckets and (profile.rm_fit_weeks or profile.fit_weeks)
            and seed < profile.play_seeds
            and profile.br_weeks and not (resume and rmb_file.exists())):
        bucketed_regret_matching(run_dir, rmb_file, scenario, profile, seed)
    t_rmb = time.perf_counter()
    rmp_file = rm_file.with_name(rm_file.stem + "-buckets-play-hours.csv")
    if rmb_file.exists() and not (resume and rmp_file.exists()):
        play_by_congestion(run_dir, rmb_file, scenario, profile, seed)
    t_rmp = time.perf_counter()
    xp_file = out / "responders" / f"{scenario}-seed{seed}.csv"
    if profile.responder_episodes and seed < profile.responder_seeds and profile.br_weeks and not (resume and xp_file.exists()):
        responders(run_dir, xp_file, scenario, profile, hp, seed)
    fr_file = out / "fitted_responders" / f"{scenario}-seed{seed}.csv"
    if (profile.fit_weeks and seed < profile.responder_seeds and cp_file.exists()
            and not (resume and fr_file.exists())):
        fitted_responders(run_dir, fr_file, cp_file, scenario, profile, seed)
    ts_file = out / "two_stage" / f"{scenario}-seed{seed}.csv"
    if (profile.two_stage_weeks and seed < profile.responder_seeds and profile.br_weeks
            and not (resume and ts_file.exists())):
        two_stage_responders(run_dir, ts_file, scenario, profile, seed)
    t5 = time.perf_counter()
    ffp_file = out / "fitted_play" / f"{scenario}-seed{seed}.csv"
    if (profile.fitted_play_iterations and seed < profile.responder_seeds and profile.br_weeks and profile.fit_weeks
            and not (resume and ffp_file.exists())):
        fitted_play(run_dir, ffp_file, scenario, profile, seed)
    t6 = time.perf_counter()
    tsp_file = out / "two_stage_play" / f"{scenario}-seed{seed}.csv"
    if (profile.two_stage_play_iterations and seed < profile.responder_seeds and profile.br_weeks
            and everyone_arbitrages(scenario) and not (resume and tsp_file.exists())):
        two_stage_play(run_dir, tsp_file, scenario, profile, seed)
    t7 = time.perf_counter()
    return {"job": f"{scenario} seed {seed}", "train_s": t1 - t0, "along_training_s": t_along - t1,
            "evaluate_s": t2 - t_along, "best_response_s": t3 - t2, "constant_prices_dynamics_and_fictitious_play_s": t_rm - t3,
            "regret_matching_s": t4 - t_rm, "bucketed_regret_matching_s": t_rmb - t4, "play_by_congestion_s": t_rmp - t_rmb,
            "responders_s": t5 - t_rmp,
            "fitted_play_s": t6 - t5, "two_stage_play_s": t7 - t6}


FITTED_PLAY = {"new_value_weight": 0.25, "linear": True, "keep": "chosen"}  # measured in docs/arbitrage-study.md


def fitted_play(run_dir: Path, path: Path, scenario: str, profile: ArbitrageProfile, seed: int) -> None:
    """Fictitious play over fitted best responders (`run_fitted_play`, `FITTED_PLAY`) on `profile.fitted_play_weeks`,
    from the run's learned policy; the policy it keeps is checked as the learned one is: every aggregator's
    constant up prices on the best-response and validation weeks, aggregator 5's hour-by-hour best response,
    every aggregator's fitted up-price responder and its fitted two-stage responder. Files beside `path` (the
    module docstring)."""
    from runs.studies.arbitrage_fitted_play import resolve_fit_weeks, run_fitted_play
    from runs.training import load_trained_policy

    learned, meta = load_trained_policy(run_dir)
    weeks = resolve_fit_weeks(scenario, profile.fitted_play_weeks, seed)
    first_steps, steps = profile.fitted_play_fit_steps
    history, policy = run_fitted_play(scenario, learned, weeks, profile.fitted_play_iterations, seed=seed,
                                      max_hours=profile.br_max_hours, first_steps=first_steps, steps=steps, **FITTED_PLAY)
    cp_file = _check_played(run_dir, path, policy, meta, scenario, profile, seed)
    fitted_responders(run_dir, Path(f"{path.with_suffix('')}-fitted_responders.csv"), cp_file, scenario, profile, seed,
                      policy=policy)
    if profile.two_stage_weeks:
        two_stage_responders(run_dir, Path(f"{path.with_suffix('')}-two_stage.csv"), scenario, profile, seed, policy=policy)
    write_csv_atomic(path, history.assign(week_set=",".join(weeks)))  # last: its presence means the step finished


def everyone_arbitrages(scenario: str) -> bool:
    """Whether every aggregator of `scenario` arbitrages (all-arb): where the two-stage play is run, since a
    stand-alone aggregator's withholding is no arbitrage decision (docs/arbitrage-study.md)."""
    from model.scenario import load as load_scenario

    sc = load_scenario(scenario)
    return set(sc.aggregator_ids) <= set(sc.arbitrage)


def two_stage_play(run_dir: Path, path: Path, scenario: str, profile: ArbitrageProfile, seed: int,
                   checks: bool = True) -> None:
    """Fictitious play over fitted two-stage responders (`arbitrage_two_stage.two_stage_play`: withholding and up
    price) on `profile.two_stage_play_weeks` for `profile.two_stage_play_iterations` iterations, from the run's learned
    policy; it keeps the iteration whose largest in-sample gain of a fixed option was smallest. That policy is
    checked as the learned one is: constant up prices, aggregator 5's hour-by-hour best response, every
    aggregator's fitted two-stage responder (whose options include the up-price responder's). Files beside `path`;
    checks=False saves the policy and the history only (for scoring it on more seeds, as
    `scripts/fitted_play_check.py two-stage-play --no-checks` does)."""
    from runs.studies import arbitrage_best_response as br
    from runs.studies import arbitrage_two_stage as ts
    from runs.studies.arbitrage_fitted_play import resolve_fit_weeks
    from runs.training import load_trained_policy

    learned, meta = load_trained_policy(run_dir)
    weeks = resolve_fit_weeks(scenario, profile.two_stage_play_weeks, seed)
    first_steps, steps = profile.fitted_play_fit_steps
    grid = br.TINY if profile.br_grid == "tiny" else br.COARSE
    history, policy = ts.two_stage_play(scenario, learned, weeks, profile.two_stage_play_iterations, grid=grid, seed=seed,
                                        first_steps=first_steps, steps=steps, window=profile.two_stage_play_window,
                                        linear=profile.two_stage_play_rounds == "linear", max_hours=profile.br_max_hours)
    policy.population = int(history[history.chosen].iteration.iloc[0]) + 1  # the rounds as they played then
    if checks:
        _check_played(run_dir, path, policy, meta, scenario, profile, seed)
        two_stage_responders(run_dir, Path(f"{path.with_suffix('')}-two_stage.csv"), scenario, profile, seed, policy=policy)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        policy.save(Path(f"{path.with_suffix('')}-policy.npz"), base_sha256=meta["tensor_sha256"])
    write_csv_atomic(path, history.assign(week_set=",".join(weeks)))  # last: its presence means the step finished


def _check_played(run_dir: Path, path: Path, policy, meta: dict, scenario: str, profile: ArbitrageProfile, seed: int) -> Path:
    """A play's policy saved beside `path` (-policy.npz, recording the learned policy it was made from) and checked
    as the learned one is: every aggregator's constant up prices on the best-response and validation weeks
    (-constant_prices.csv, returned) and aggregator 5's hour-by-hour best response (-best_response.csv)."""
    from runs.studies import arbitrage_best_response as br

    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_suffix("")
    policy.save(Path(f"{stem}-policy.npz"), base_sha256=meta["tensor_sha256"])
    validation = [w for w in profile.responder_validation_weeks if w not in profile.br_weeks]
    cp = br.constant_prices(scenario, policy, list(profile.br_weeks) + validation, grid=br.COARSE, seed=seed,
                            max_hours=profile.br_max_hours)
    cp["use"] = cp.week.map(lambda w: "validation" if w in validation else "check")
    cp_file = Path(f"{stem}-constant_prices.csv")
    write_csv_atomic(cp_file, cp, float_format="%.6g")
    grid = {"fine": br.FINE, "coarse": br.COARSE, "tiny": br.TINY}[profile.br_grid]
    write_csv_atomic(Path(f"{stem}-best_response.csv"),
                     br.best_response(scenario, policy, list(profile.br_weeks), PAPER.focus_aggregator, grid, seed=seed,
                                      max_hours=profile.br_max_hours), float_format="%.6g")
    return cp_file


def two_stage_responders(run_dir: Path, path: Path, scenario: str, profile: ArbitrageProfile, seed: int,
                         policy=None) -> None:
    """Every aggregator's fitted two-stage responder (`arbitrage_two_stage`): the exact values of its withholding
    and up-price options against everyone else's `policy` (default: the run's learned policy) on
    `profile.two_stage_weeks`, the validation weeks and the best-response weeks; fitted on the first, kept where it
    wins on the validation weeks, scored on the best-response weeks (`use`: validation / check)."""
    from runs.studies import arbitrage_best_response as br
    from runs.studies import arbitrage_two_stage as ts
    from runs.studies.arbitrage_fitted_play import resolve_fit_weeks
    from runs.training import load_trained_policy

    policy = load_trained_policy(run_dir)[0] if policy is None else policy
    fit = resolve_fit_weeks(scenario, profile.two_stage_weeks, seed)
    validation = [w for w in profile.responder_validation_weeks if w not in profile.br_weeks and w not in fit]
    scored = validation + [w for w in profile.br_weeks if w not in fit]
    grid = br.TINY if profile.br_grid == "tiny" else br.COARSE  # the fine grid's 11 x 16 options would take hours
    tv = ts.two_stage_values(scenario, policy, fit + scored, grid, seed, profile.br_max_hours)
    df = ts.fitted_two_stage_responder(tv, fit, steps=profile.fitted_responder_steps, seed=seed)
    df["use"] = df.week.map(lambda w: "validation" if w in validation else "check")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(path, df)


def fitted_responders(run_dir: Path, path: Path, cp_file: Path, scenario: str, profile: ArbitrageProfile, seed: int,
                      policy=None) -> None:
    """Every aggregator's fitted up-price responder (`fitted_up_price_responder`): the market's values of the
    constant up prices on `profile.fit_weeks`, a network fitted to them per aggregator, and its picks scored
    on the validation and check weeks of `cp_file` (the constant-bid check's hours). One row per aggregator
    and hour of those weeks: learned and responder €, the best up price's € (hour by hour), `use`.
    `policy`: the profile responded to (default: the run's learned policy)."""
    import pandas as pd

    from runs.studies import arbitrage_best_response as br
    from runs.training import load_trained_policy

    learned = load_trained_policy(run_dir)[0] if policy is None else policy
    scored = pd.read_csv(cp_file)
    fit = br.constant_prices(scenario, learned, list(profile.fit_weeks), grid=br.COARSE, seed=seed,
                             max_hours=profile.br_max_hours)
    weeks = list(profile.fit_weeks) + list(scored.week.drop_duplicates())
    inputs = br.own_inputs(scenario, learned, weeks, seed=seed, max_hours=profile.br_max_hours)
    cp = pd.concat([fit, scored.drop(columns="use")], ignore_index=True)
    r = br.fitted_up_price_responder(cp, inputs, list(profile.fit_weeks), steps=profile.fitted_responder_steps, seed=seed)
    cols = list(br.constant_up_prices(cp))
    out = r[["week", "hour_of_week", "aggregator", "learned_eur", "responder_eur", "responder_up_eur_mwh"]].assign(
        best_up_price_eur=r[cols].max(axis=1))
    out = out.merge(scored[["week", "hour_of_week", "aggregator", "use"]], how="left")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(path, out)


def fictitious_play(run_dir: Path, path: Path, scenario: str, profile: ArbitrageProfile, seed: int) -> None:
    """Fictitious play over every aggregator's learned bids and constant up prices on the best-response
    weeks (`constant_bid_fictitious_play`, `profile.fp_iterations`), and both profiles (learned, final
    mixtures) scored on the validation weeks, which the mixtures were not fitted to."""
    from runs.studies import arbitrage_best_response as br
    from runs.training import load_trained_policy

    learned, _ = load_trained_policy(run_dir)
    values = br.OptionValues(scenario, learned, list(profile.br_weeks), br.COARSE, seed, profile.br_max_hours)
    history, mixtures = br.fictitious_play(values, values.ids, values.levels, profile.fp_iterations)
    validation = [w for w in profile.responder_validation_weeks if w not in profile.br_weeks]
    path.parent.mkdir(parents=True, exist_ok=True)
    if validation:
        held_out = br.OptionValues(scenario, learned, validation, br.COARSE, seed, profile.br_max_hours)
        write_csv_atomic(path.with_name(path.stem + "-validation.csv"), br.score_profiles(held_out, mixtures))
    # the mixtures in full precision: `play_mixtures` plays them again
    write_csv_atomic(path.with_name(path.stem + "-mixtures.csv"), mixtures, float_format="%.17g")
    write_csv_atomic(path, history)  # its presence means the play finished


def regret_matching(run_dir: Path, path: Path, scenario: str, profile: ArbitrageProfile, seed: int) -> None:
    """Regret matching over every aggregator's learned bids and constant up prices on the best-response weeks
    (`regret_matching_play`, `profile.rm_iterations`): its history (`path`), every iteration's mixtures
    (-mixtures.csv), and the learned profile and the correlated play scored on those weeks (from the history) and on
    the validation weeks, which the play was not fitted to (-scores.csv, `score_correlated`)."""
    import pandas as pd

    from runs.studies import arbitrage_best_response as br
    from runs.training import load_trained_policy

    learned, _ = load_trained_policy(run_dir)
    values = br.OptionValues(scenario, learned, list(profile.br_weeks), br.COARSE, seed, profile.br_max_hours)
    history, mixtures = br.regret_matching_play(values, values.ids, values.levels, profile.rm_iterations)
    scores = [br.correlated_scores_from_history(history, values.levels).assign(weeks="check")]
    validation = [w for w in profile.responder_validation_weeks if w not in profile.br_weeks]
    if validation:
        held_out = br.OptionValues(scenario, learned, validation, br.COARSE, seed, profile.br_max_hours)
        scores.append(br.score_correlated(held_out, mixtures).assign(weeks="validation"))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(path.with_name(path.stem + "-mixtures.csv"), mixtures, float_format="%.17g")
    write_csv_atomic(path.with_name(path.stem + "-scores.csv"), pd.concat(scores, ignore_index=True))
    write_csv_atomic(path, history)  # its presence means the play finished


def bucketed_regret_matching(run_dir: Path, path: Path, scenario: str, profile: ArbitrageProfile, seed: int) -> None:
    """Regret matching by congestion (`bucketed_regret_matching`): `profile.rm_buckets` buckets of equal counts (or
    split at `rm_bucket_quantiles`) of the feeder's scheduled injection over the hours of `profile.rm_fit_weeks` (or
    `fit_weeks`) where the DSO buys (training weeks), one regret matching each (`rm_iterations`); its history (`path`,
    a `bucket` column), mixtures (-mixtures.csv), edges (-edges.csv), the learned profile and the play scored on the
    fit weeks (from the history), the check weeks and the validation weeks (-scores.csv; neither fitted to), and each
    of those hours' values (-hours.csv, `score_bucketed`), for the report's day-block bootstrap."""
    import pandas as pd

    from runs.studies import arbitrage_best_response as br
    from runs.training import load_trained_policy

    learned, _ = load_trained_policy(run_dir)
    fit_weeks = list(profile.rm_fit_weeks or profile.fit_weeks)
    fit = br.OptionValues(scenario, learned, fit_weeks, br.COARSE, seed, profile.br_max_hours)
    edges = br.bucket_edges(fit.public_feature(), profile.rm_buckets, profile.rm_bucket_quantiles)
    history, mixtures = br.bucketed_regret_matching(fit, edges, profile.rm_iterations)
    scores = [br.bucketed_scores_from_history(history, fit).assign(weeks="fit")]
    hours = []
    validation = [w for w in profile.responder_validation_weeks if w not in profile.br_weeks]
    for name, weeks in (("check", list(profile.br_weeks)), ("validation", validation)):
        if not weeks:
            continue
        values = br.OptionValues(scenario, learned, weeks, br.COARSE, seed, profile.br_max_hours)
        totals, per_hour = br.score_bucketed(values, mixtures, edges)
        scores.append(totals.assign(weeks=name))
        hours.append(per_hour.assign(weeks=name))
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_name(path.stem)
    write_csv_atomic(Path(f"{stem}-mixtures.csv"), mixtures, float_format="%.17g")
    write_csv_atomic(Path(f"{stem}-edges.csv"), br.bucket_table(fit, edges), float_format="%.17g")
    write_csv_atomic(Path(f"{stem}-scores.csv"), pd.concat(scores, ignore_index=True))
    write_csv_atomic(Path(f"{stem}-hours.csv"), pd.concat(hours, ignore_index=True))
    write_csv_atomic(path, history)  # its presence means the play finished


def play_by_congestion(run_dir: Path, path: Path, scenario: str, profile: ArbitrageProfile, seed: int) -> None:
    """The play by congestion (`bucketed_regret_matching`'s mixtures and edges beside `path`) as a policy over the
    learned one (`CongestionPlayPolicy`, saved as -policy.npz for `localmarl evaluate --fitted-play`), played on the
    study's evaluation weeks and scored as `eval/` scores the learned policies (-play-scores.csv, -play-hours.csv):
    the report's orderings and markets under a play fitted on training weeks only."""
    import pandas as pd

    from runs.studies.arbitrage_congestion_play import CongestionPlayPolicy
    from runs.training import evaluate_policy, load_trained_policy

    learned, meta = load_trained_policy(run_dir)
    stem = path.with_name(path.stem)
    mixtures = pd.read_csv(f"{stem}-mixtures.csv")
    levels = mixtures[mixtures.option > 0].groupby("option").up_eur_mwh.first().sort_index().to_numpy()
    policy = CongestionPlayPolicy.from_tables(learned, meta["participant_ids"], mixtures, pd.read_csv(f"{stem}-edges.csv"),
                                              levels, seed)
    policy.save(Path(f"{stem}-policy.npz"), meta["tensor_sha256"])
    scores, hours = evaluate_policy(scenario, policy, seed=seed, weeks=list(profile.eval_weeks) if profile.eval_weeks else None)
    write_csv_atomic(Path(f"{stem}-play-scores.csv"), scores)
    write_csv_atomic(Path(f"{stem}-play-hours.csv"), hours)  # last: its presence means this step finished


def play_mixtures(run_dir: Path, path: Path, scenario: str, profile: ArbitrageProfile, seed: int) -> None:
    """The mixtures fictitious play kept (`path`'s -mixtures.csv) played on the evaluation weeks: -scores.csv
    and -hours.csv, as `eval/` has them for the learned policies (the report's orderings and markets under
    the mixtures)."""
    import pandas as pd

    mixtures = pd.read_csv(path.with_name(path.stem + "-mixtures.csv"))
    scores, hours = mixture_scores(run_dir, mixtures, scenario, profile, seed, keep_hours=True)
    write_csv_atomic(path.with_name(path.stem + "-scores.csv"), scores)
    write_csv_atomic(path.with_name(path.stem + "-hours.csv"), hours)  # last: its presence means this step finished


def mixture_scores(run_dir: Path, mixtures, scenario: str, profile: ArbitrageProfile, seed: int, keep_hours: bool = False):
    """The mixtures fictitious play kept, played (`MixedUpPrices`: a draw per aggregator and hour) on the
    study's evaluation weeks and scored as `eval/` scores the learned policies: (scores, hours or None)."""
    import numpy as np

    from model.scenario import load as load_scenario
    from runs.studies import arbitrage_best_response as br
    from runs.training import evaluate_policy, load_trained_policy

    learned, _ = load_trained_policy(run_dir)
    sc = load_scenario(scenario)
    probe = br.MixedUpPrices(learned, sc.aggregator_ids, seed)
    probe.levels = np.array(br.COARSE.price_frac) * sc.market.flex_price_max_eur_mwh  # the levels fictitious play used
    for agg, d in mixtures.groupby("aggregator"):
        d = d.sort_values("option")
        if not np.allclose(d.up_eur_mwh.to_numpy()[1:], probe.levels):
            raise ValueError(f"the mixtures of aggregator {agg} are over other up prices than the coarse grid's {probe.levels}")
        probe.p[int(agg)] = d.probability.to_numpy() / d.probability.sum()
    return evaluate_policy(scenario, probe, seed=seed, weeks=list(profile.eval_weeks) if profile.eval_weeks else None,
                           keep_hours=keep_hours)


def responders(run_dir: Path, path: Path, scenario: str, profile: ArbitrageProfile, hp, seed: int) -> None:
    """Train a best responder for every aggregator against the others' frozen learned policy (the
    learner's own hyperparameters, `profile.responder_episodes` training weeks) and write each one's
    gain over its learned policy on the best-response weeks, and its evaluation-week curve."""
    import pandas as pd

    from runs.best_response import train_best_response
    from runs.training import load_trained_policy

    rows, curves = [], []
    _, meta = load_trained_policy(run_dir)
    for agg in meta["participant_ids"]:
        learned, _ = load_trained_policy(run_dir)  # a fresh copy: nothing of one responder reaches the next
        r = train_best_response(scenario, learned, agg, profile.responder_episodes, hp, list(profile.br_weeks), seed=seed,
                                curve_weeks=profile.responder_validation_weeks)
        curves += [{"aggregator": agg, "episode": e, "validation_eur": v} for e, v in r.pop("curve")]
        rows.append({"aggregator": agg, **{k: v for k, v in r.items() if k != "participant"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(path.with_name(path.stem + "-curve.csv"), pd.DataFrame(curves))
    write_csv_atomic(path, pd.DataFrame(rows))  # last: its presence means the check finished



def baseline_job(out: str, profile: ArbitrageProfile, policy: str, location: str) -> dict:
    """Truthful bidding or the rule-based strategy, played by every aggregator, on the study's weeks."""
    from runs.training import evaluate_policy

    t0 = time.perf_counter()
    scenario = SA_SWAP if location == "swap" else SA  # rewards of fixed policies do not depend on who arbitrages
    d = Path(out) / "baselines" / (policy if location == "base" else f"{policy}-swap")
    scores, hours = evaluate_policy(scenario, policy, weeks=list(profile.eval_weeks) if profile.eval_weeks else None)
    d.mkdir(parents=True, exist_ok=True)
    scores.to_csv(d / "scores.csv", index=False, float_format="%.6g")
    hours.to_csv(d / "hours.csv", index=False, float_format="%.6g")
    return {"job": f"baseline {policy} ({location})", "evaluate_s": time.perf_counter() - t0}


def jobs(out: Path, profile: ArbitrageProfile, seeds: int, episodes: int, device: str, resume: bool) -> list[Job]:
    """Every training run (scenario x seed) and the baselines of each location."""
    learned = [(sc, s) for s in range(seeds) for sc in profile.scenarios]
    locations = sorted({location_of(sc) for sc in profile.scenarios})
    out = str(out)
    return ([Job(learned_job, (out, profile, sc, s, episodes, device, resume), f"{sc} seed {s}",
                 expected_job_s(out, profile, sc, s, episodes, resume), training_watch(run_folder(out, sc, s), episodes))
             for sc, s in learned]
            + [Job(baseline_job, (out, profile, p, loc), f"baseline {p} ({loc})", 2.0)
               for loc in locations for p in ("truthful", "rule")])


def expected_job_s(out: str, profile: ArbitrageProfile, scenario: str, seed: int, episodes: int, resume: bool) -> float:
    """A rough cost of `learned_job` in seconds, for the progress line's ETA only. Measured on the quick profile
    (two workers, development machine): training 131-209 s for 800 episodes, the every-seed checks about 150 s;
    seed 0's dynamics about 190 s, its trained responders about 400 s (200 weeks each), its fitted responders, fitted
    play and two-stage responders about 520 s (40 iterations), all-arb's two-stage play about 1,060 s on 7 weeks and
    1,398 s on 10 (12 iterations; about 9 s per iteration and week, the checks the rest; one core, stop 27); its
    constant bids along training about 3 s per snapshot and week (stop 64, beside another study); its regret matching
    about 1.7 s per iteration (S-a 512 s for 300, stop 67) and the play by congestion about 2.6 (S-a 782 s, two or
    three processes on two cores, stop 68), both about half that since `OptionValues` skips the clears above an
    unsold price (the play by congestion 389 s instead of 763 s for S-a seed 2, side by side, stop 70; the first
    `play_seeds` seeds). A resumed run counts only the training episodes after its checkpoint
    (`runs.study.expected_training_s`)."""
    from runs.studies.arbitrage_fitted_play import fit_week_count

    s = expected_training_s(0.2, 1, episodes, run_folder(out, scenario, seed), resume) + (150.0 if profile.br_weeks else 0.0)
    if (seed < profile.responder_seeds or profile.hand_on_nearest) and profile.snapshot_every:
        s += 3.0 * len(profile.along_training_weeks) * (episodes // profile.snapshot_every + 2)
    if profile.hand_on_nearest:
        s += 3.0 * len(profile.responder_validation_weeks) * (episodes // profile.snapshot_every + 1)
    if seed < profile.responder_seeds and profile.br_weeks:
        s += 16.0 * profile.dynamics_rounds + 2.0 * profile.responder_episodes + 13.0 * profile.fitted_play_iterations
        s += 0.9 * profile.rm_iterations
        if profile.two_stage_play_iterations and everyone_arbitrages(scenario):
            weeks = fit_week_count(profile.two_stage_play_weeks)
            s += 300.0 + 9.0 * profile.two_stage_play_iterations * weeks
    if seed < profile.play_seeds and profile.br_weeks and profile.rm_buckets:
        s += 1.3 * profile.rm_iterations
    return s
