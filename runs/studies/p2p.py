"""The P2P study: every method of the spec's comparison on the same test days, and the bound.

Methods (`METHODS`): two rule-based baselines (no P2P; P2P with MMR), the learners (MADDPG with
parameter sharing per cluster, the paper's; independent DDPG learners with sharing; one cluster
for all; MADDPG without sharing), the clustered learner on the scenario without the peak penalty
(what the penalty does to the peak), and the centralised perfect-foresight optimum of every day
(`model.markets.p2p_optimum`: the lowest system cost any coordination could reach).

Folder layout under --out:
  runs/<method>/seed<k>/        training run folders (`localmarl train`)
  eval/<method>/seed<k>/        scores.csv (per household and week), hours.csv (per hour and cluster)
  optimum/<scenario>.csv        the optimum's cost parts and peak per day
  checks/household_br_seed<k>.csv  the exploitability check of each MADDPG-PS seed: sampled households'
                                best responses, everyone else fixed (`runs.studies.p2p_checks`)
  checks/household_responders_seed<k>.csv  the same seeds' trained best responders: one household per
                                learning cluster learns against everyone else's frozen policy
                                (`runs.best_response`), its gain on the check's weeks; and
                                -curve.csv, each one's score on the validation weeks while it trains
  checks/household_clock_seed<k>.csv  the same sampled households' best device schedule by hour of day
                                (`household_checks.clock_schedule_check`)
  tables/, figures/, report.md, study.json
  study-started.json            the settings the study was started with (`--resume` refuses other ones)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model.atomic import write_csv_atomic
from runs.executor import Job
from runs.study import (Method, Profile, evaluate_rules, expected_training_s, run_folder, train_and_evaluate,
                        training_watch)

SCENARIO, NO_PEAK = "p2p-mmr", "p2p-mmr-nopeak"
DAYS_PER_WEEK = 7  # a household design's week: seven one-day episodes


METHODS = {
    "no-p2p-rules": Method("no-p2p-rules", "No P2P, rules", SCENARIO, overrides=(("p2p", "false"),)),
    "p2p-rules": Method("p2p-rules", "P2P (MMR), rules", SCENARIO),
    "maddpg-ps": Method("maddpg-ps", "MADDPG-PS per cluster (paper)", SCENARIO, "maddpg-ps"),
    "ddpg-ps": Method("ddpg-ps", "Independent DDPG-PS", SCENARIO, "ddpg-ps"),
    "one-cluster": Method("one-cluster", "MADDPG-PS, one cluster", SCENARIO, "one-cluster"),
    "maddpg": Method("maddpg", "MADDPG without sharing", SCENARIO, "maddpg"),
    "maddpg-ps-nopeak": Method("maddpg-ps-nopeak", "MADDPG-PS, no peak penalty", NO_PEAK, "maddpg-ps"),
}


@dataclass(frozen=True)
class P2PProfile(Profile):
    methods: tuple[str, ...] = tuple(METHODS)
    unshared_episodes: int | None = None  # MADDPG without sharing trains this many (a computation-time comparison)
    #: training weeks also evaluated (learners and optimum): does performance hold on unseen test days?
    train_check_weeks: tuple[str, ...] = ("train:2", "train:14", "train:26", "train:38")
    #: the exploitability check of MADDPG-PS (`p2p_checks.household_best_response`): its weeks and the
    #: households sampled per learning cluster
    br_weeks: tuple[str, ...] = ("test:2",)
    br_per_cluster: int = 4
    #: the clock check's search (`household_checks.clock_schedule`): levels per device and hour, passes at most
    clock_levels: int = 21
    clock_passes: int = 6
    #: trained best responders (`runs.best_response`) for one household per learning cluster of that
    #: check's sample: training days each (0: none), and the weeks their actor is chosen on: a test week
    #: apart from `br_weeks` and from the learners' selection weeks, because the learners' policy is the
    #: snapshot that scored best there (`keep_best`, `selection_weeks`): chosen there too, the learned actor
    #: would be favoured over the responder's
    responder_episodes: int = 0
    responder_validation_weeks: tuple[str, ...] = ("test:5",)

    def __post_init__(self):
        shared = sorted(set(self.responder_validation_weeks) & set(self.br_weeks))
        if shared:
            raise ValueError(f"profile {self.name!r}: responder_validation_weeks and br_weeks share {shared}; the "
                             "responders' actor would be chosen on the days it is scored on. Pick another week")


PROFILES = {
    "quick": P2PProfile(
        "quick", (SCENARIO, NO_PEAK), episodes=1200, seeds=2, eval_every=100, checkpoint_every=300,
        # trained responders of 1,000 days as the paper profile's (300 until stop 55: on the stop-55 study's runs the 300-day
        # responders' snapshots chosen on test:5 did worse on test:2, -1.7 % of the cost, the pv-battery one -28 %; at
        # 1,000 days all 6 keep the learned actor, docs/p2p.md "The trained responders at 1,000 days"; ~60 s more per seed)
        unshared_episodes=150, responder_episodes=1000,
        note="1,200 training days per learner (the paper's episode count is not in its abstract), 2 seeds; MADDPG "
             "without sharing trains 150 days (~8x slower per day), enough to compare its training time per day",
    ),
    "paper": P2PProfile(
        "paper", (SCENARIO, NO_PEAK), episodes=6000, seeds=3, eval_every=200, checkpoint_every=500,
        unshared_episodes=1500, br_weeks=("test:2", "test:8"), br_per_cluster=8, responder_episodes=1000,
        note="6,000 training days per learner, 3 seeds",
    ),
    "tiny": P2PProfile(
        "tiny", (SCENARIO, NO_PEAK), episodes=2, seeds=1, eval_every=1, checkpoint_every=1, eval_weeks=("test:1", "eval:1"),
        unshared_episodes=2, train_check_weeks=("train:2",), br_per_cluster=1, responder_episodes=2, clock_levels=3, clock_passes=1,
        note="smoke test of the pipeline: 2 days of training, 1 test week; its numbers mean nothing",
    ),
}


def _weeks(profile: P2PProfile, learned: bool = False) -> list[str]:
    """The weeks evaluated: the profile's (default the 12 test weeks and the evaluation week), and for
    learners and the optimum also the training weeks of the generalisation check."""
    from runs.training import week_labels

    weeks = list(profile.eval_weeks) if profile.eval_weeks else [label for label, _ in week_labels()]
    return weeks + (list(profile.train_check_weeks) if learned else [])


def learned_job(out: str, profile: P2PProfile, method: str, seed: int, episodes: int, device: str, resume: bool) -> dict:
    """Train one method and seed, then evaluate it on the test weeks and the evaluation week; for
    MADDPG-PS also its exploitability checks (checks/household_br_seed<k>.csv, and with
    `profile.responder_episodes` checks/household_responders_seed<k>.csv)."""
    m = METHODS[method]
    episodes = training_days(profile, method, episodes)
    timings, run_dir, _ = train_and_evaluate(out, profile, method, m.scenario, m.learner, seed, episodes, device, resume,
                                             _weeks(profile, learned=True))
    if method == "maddpg-ps":
        from runs.studies.p2p_checks import household_best_response

        t0 = time.perf_counter()
        f = Path(out) / "checks" / f"household_br_seed{seed}.csv"
        if not (resume and f.exists()):
            f.parent.mkdir(exist_ok=True)
            # the same households for every seed (the sample's own seed is 0)
            household_best_response(run_dir, list(profile.br_weeks), profile.br_per_cluster).to_csv(
                f, index=False, float_format="%.6g")
        f = Path(out) / "checks" / f"household_clock_seed{seed}.csv"
        if not (resume and f.exists()):
            from runs.studies.household_checks import clock_schedule_check
            from runs.studies.p2p_checks import day_costs, faced_prices, sample_households
            from runs.training import make_model

            rows = sample_households(make_model(m.scenario, "rule", 0).design, profile.br_per_cluster, 0)
            write_csv_atomic(f, clock_schedule_check(run_dir, list(profile.br_weeks), rows, "p2p", faced_prices, day_costs,
                                                     profile.clock_levels, profile.clock_passes))
        t1 = time.perf_counter()
        timings["checks_s"] = t1 - t0
        f = Path(out) / "checks" / f"household_responders_seed{seed}.csv"
        if profile.responder_episodes and profile.br_weeks and not (resume and f.exists()):
            from runs.training import make_model

            weeks = list(profile.br_weeks)
            households = responder_households(make_model(m.scenario, "rule", 0).design, profile.br_per_cluster)
            train_responders(run_dir, f, [(i, cluster, weeks) for i, cluster in households], profile.responder_episodes,
                             profile.responder_validation_weeks)
        timings["responders_s"] = time.perf_counter() - t1
    return timings


def responder_households(design, per_cluster: int) -> list[tuple[int, str]]:
    """(household, cluster) for the trained best responders: in each learning cluster the first (lowest
    row) of the households the LP check samples (`p2p_checks.sample_households`, its seed 0), so each
    responder's gain stands beside the same household's LP regret."""
    from runs.studies.p2p_checks import sample_households

    groups = design.participant_groups()
    first: dict[str, int] = {}
    for i in sample_households(design, per_cluster, 0):  # sorted rows
        first.setdefault(groups[i], int(i))
    return [(i, cluster) for cluster, i in first.items()]


def train_responders(run_dir: Path, path: Path, participants: list[tuple], episodes: int,
                     validation_weeks: tuple[str, ...]) -> pd.DataFrame:
    """Train a best responder (`runs.best_response.train_best_response`) for each of `participants`,
    (participant id, its cluster, the weeks it is scored on), against everyone else's frozen learned
    policy of the run in `run_dir`: `episodes` training days with the run's own hyperparameters, the
    actor kept the one that scored best on `validation_weeks` (the learned one included). Writes `path`
    (also the Stackelberg study's), one row per participant:

        participant, cluster, weeks, days (scored), learned_eur, responder_eur (its score over those
        days: a household's reward = - its cost, a leader's profit), gain_eur = responder - learned
        (+ = the responder does better: pays less or earns more), gain_share (of |learned_eur|),
        episodes, best_episode (0: no actor beat the learned one), seconds

    and its -curve.csv (participant, cluster, episode, validation_eur), written first: the table's
    presence means the check finished. Returns the table."""
    from agents.learning.hyperparams import HyperParams
    from runs.best_response import train_best_response
    from runs.training import load_trained_policy

    rows, curves = [], []
    for participant, cluster, weeks in participants:
        learned, meta = load_trained_policy(run_dir)  # a fresh copy: nothing of one responder reaches the next
        r = train_best_response(meta["scenario_arg"], learned, participant, episodes,
                                HyperParams.from_dict(meta["hyperparams"]), list(weeks), seed=meta["seed"],
                                curve_weeks=tuple(validation_weeks))
        curves += [{"participant": participant, "cluster": cluster, "episode": e, "validation_eur": v}
                   for e, v in r.pop("curve")]
        learned_eur = r["learned_eur"]
        rows.append({"participant": participant, "cluster": cluster, "weeks": " ".join(weeks),
                     "days": DAYS_PER_WEEK * len(weeks), "learned_eur": learned_eur, "responder_eur": r["responder_eur"],
                     "gain_eur": r["gain_eur"], "gain_share": r["gain_eur"] / abs(learned_eur) if learned_eur else np.nan,
                     "episodes": r["episodes"], "best_episode": r["best_episode"], "seconds": r["seconds"]})
    table = pd.DataFrame(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(path.with_name(path.stem + "-curve.csv"), pd.DataFrame(curves))
    write_csv_atomic(path, table)  # last: its presence means the check finished
    return table


def baseline_job(out: str, profile: P2PProfile, method: str) -> dict:
    from model.scenario import load_scenario

    m = METHODS[method]
    return evaluate_rules(out, method, load_scenario(m.scenario).with_overrides(**dict(m.overrides)), m.policy,
                          _weeks(profile))


def optimum_job(out: str, profile: P2PProfile, scenario: str) -> dict:
    """The centralised optimum of every evaluated day (`household_checks.day_optimum`): its cost parts, the
    community's peak and the heat pumps' comfort."""
    return write_day_optimum(out, scenario, _weeks(profile, learned=True))


def write_day_optimum(out: str, scenario: str, weeks) -> dict:
    """`household_checks.day_optimum` of `weeks`, written to out/optimum/<scenario>.csv (atomically)."""
    from runs.studies.household_checks import day_optimum

    t0 = time.perf_counter()
    f = Path(out) / "optimum" / f"{scenario}.csv"
    f.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(f, day_optimum(scenario, weeks), float_format="%.6g")
    return {"job": f"optimum {scenario}", "optimum_s": time.perf_counter() - t0}


# each job's cost in seconds, for the progress line's ETA only (relative costs matter): the quick profile's jobs in
# stop 26's `make run` (two workers; 1,200 training days, which a learned job's cost scales with); an unlisted
# method counts as 100 s
EXPECTED_JOB_S = {"maddpg-ps": 108.0, "ddpg-ps": 79.0, "one-cluster": 38.0, "maddpg": 252.0, "maddpg-ps-nopeak": 83.0,
                  "no-p2p-rules": 1.0, "p2p-rules": 1.0, "optimum": 17.0}
EXPECTED_JOB_EPISODES = {"maddpg": 150}  # the quick profile's training days per method (default 1,200)


def training_days(profile: P2PProfile, method: str, episodes: int) -> int:
    """The days `method` trains: `episodes`, or fewer for MADDPG without sharing (`unshared_episodes`)."""
    unshared = METHODS[method].learner == "maddpg" and profile.unshared_episodes
    return min(episodes, profile.unshared_episodes) if unshared else episodes


def expected_job_s(out: str, profile: P2PProfile, method: str, seed: int, episodes: int, resume: bool) -> float:
    """A learned job's rough cost in seconds (`EXPECTED_JOB_S` scaled by the training days it has left)."""
    days = training_days(profile, method, episodes)
    return expected_training_s(EXPECTED_JOB_S.get(method, 100.0), EXPECTED_JOB_EPISODES.get(method, 1200), days,
                               run_folder(out, method, seed), resume)


def jobs(out: Path, profile: P2PProfile, seeds: int, episodes: int, device: str, resume: bool) -> list[Job]:
    out = str(out)
    learned = [m for m in profile.methods if METHODS[m].learner]
    rules = [m for m in profile.methods if not METHODS[m].learner]
    scenarios = sorted({METHODS[m].scenario for m in profile.methods})
    return ([Job(learned_job, (out, profile, m, s, episodes, device, resume), f"{m} seed {s}",
                 expected_job_s(out, profile, m, s, episodes, resume),
                 training_watch(run_folder(out, m, s), training_days(profile, m, episodes), "day"))
             for s in range(seeds) for m in learned]
            + [Job(baseline_job, (out, profile, m), f"baseline {m}", EXPECTED_JOB_S.get(m, 100.0)) for m in rules]
            + [Job(optimum_job, (out, profile, sc), f"optimum {sc}", EXPECTED_JOB_S["optimum"]) for sc in scenarios])
