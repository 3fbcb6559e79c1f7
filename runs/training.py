"""Training a design's learner through the Mesa model, with evaluation, checkpoints and exact resume.

    for episode = 1 .. E:
        pick a training episode at random (arbitrage: a training week; P2P: a training day)
        model.reset_episode(...); step through it: the learner acts with exploration noise and
        stores every cleared hour (observations, actions, the rewards the design pays each role)
        learner.end_episode(): its updates, then the exploration noise decays
        every K episodes: play the evaluation episodes without noise -> training curve

A run folder holds:
    config.json                 what made the run (arguments, scenario, hyperparameters, versions)
    train_curve.csv             episode, participant, eval_score_eur (+ the design's score parts)
    checkpoints/ep<E>.pt/.json  full training state + metadata (`agents.learning.checkpoint`)
    policy.pt / policy.json     the final policy, for `load_trained_policy`; with the hyperparameter
                                `keep_best`, the snapshot that scored best on the evaluation week (the
                                design's `selection_score`), and policy_last.pt / .json the final one

Exact resume: every random stream is checkpointed (episode choice, exploration and mini-batches,
the model's own generator, torch), checkpoints are taken at episode boundaries, and each episode
starts the design's solvers cold (`design.cold_start()`), so state left by earlier episodes cannot
make a resumed run differ from an uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from agents.learning.checkpoint import (
    CHECKPOINT_KIND, LAST_POLICY_FILE, POLICY_META, CheckpointError, latest_checkpoint, load_policy, read_verified,
    save_checkpoint, save_policy, save_snapshot,
)
from model import dataset
from model.atomic import write_csv_atomic, write_json_atomic
from model.scenario import load as load_scenario_arg
from model.scenario import scenario_sha256

TRAIN_CURVE = "train_curve.csv"
CONFIG_FILE = "config.json"


def make_model(scenario, policy, seed: int, week="eval:1", collect: bool = False):
    from model.model import MarketModel

    return MarketModel(scenario=load_scenario_arg(scenario), week=week, policy=policy, collect=collect, seed=seed)


def default_policy_name(scenario) -> str:
    """The first built-in policy of the scenario's design (what a model plays before a learner takes over)."""
    from model.design import get_design

    return get_design(load_scenario_arg(scenario).design).policies[0]


def score_table(scenario, scores: pd.DataFrame, who: str, columns: list[str]) -> pd.DataFrame:
    """Scores per participant, or, for a design that groups its participants (`participant_groups`:
    DER clusters, the leader), per group: how many, the sum and the mean per member."""
    model = make_model(scenario, default_policy_name(scenario), 0)
    groups = model.design.participant_groups()
    if groups is None:
        return scores.groupby(who, sort=False)[columns].sum()
    label = dict(zip(map(str, model.design.participant_ids()), groups))
    by = scores[who].astype(str).map(label).rename("group")
    sums = scores.groupby(by, sort=False)[columns].sum()
    members = scores.drop_duplicates(who).groupby(by, sort=False)[who].count()
    means = sums.div(members, axis=0).add_suffix(" per member")
    return pd.concat([members.rename("members"), sums, means], axis=1)


# ---------------------------------------------------------------------------------------------
# playing episodes
# ---------------------------------------------------------------------------------------------
def play_episode(model, week: int, first_hour: int = 0, hours: int | None = None, learner=None) -> list[np.ndarray]:
    """Play one episode from a cold start; returns the sums of the design's hour scores (one array
    per score column, per participant). With `learner`, every hour is stored in its buffers (the
    last one as terminal)."""
    design = model.design
    design.cold_start()
    model.reset_episode(week, first_hour, hours)
    if learner is not None:
        learner.begin_episode()
    sums = [np.zeros(len(design.participants())) for _ in design.score_columns]
    while model.running:
        model.step()
        h = model.hour_result
        for acc, value in zip(sums, design.hour_scores(h)):
            acc += value
        if learner is not None:
            store_hour(learner, model, h, last=not model.running)
    return sums


def training_episode(design, pool: np.ndarray, rng: np.random.Generator, exploring_starts: float = 0.0,
                     start_rng: np.random.Generator | None = None) -> tuple[int, int, int | None]:
    """(week, first hour, hours) of the next training episode: one of `pool` (the design's `training_episodes`) drawn
    with `rng`, whole (hours None), or with probability `exploring_starts` (drawn with `start_rng`, which nothing else
    draws from, so that the default's draws stay as they were) started at a random later hour of it and played to its
    end (`HyperParams.exploring_starts`)."""
    week, first_hour = design.episode_start(int(rng.choice(pool)))
    if exploring_starts and start_rng.random() < exploring_starts:
        offset = int(start_rng.integers(1, design.episode_hours))
        return week, first_hour + offset, design.episode_hours - offset
    return week, first_hour, None


def store_hour(learner, model, hour, last: bool) -> None:
    """Store a cleared hour in the learner's buffers, and its counterfactual variants where the learner
    asks for them (`HyperParams.counterfactual_samples` or a slot's own count, `Team.counterfactuals`)."""
    learner.remember(hour, last=last)
    if getattr(learner, "stores_counterfactuals", False):
        learner.counterfactuals(model, hour)
    if getattr(learner.hp, "counterfactual_households", 0):
        learner.household_counterfactuals(model, hour, last)


def play_week(model, week: int) -> list[np.ndarray]:
    """All episodes of `week` (arbitrage: the week; P2P: its seven days), scores summed."""
    total = None
    for first, hours in model.design.episodes_of_week(week):
        sums = play_episode(model, week, first, hours)
        total = sums if total is None else [a + b for a, b in zip(total, sums)]
    return total


def week_labels(which=("test", "eval")) -> list[tuple[str, int]]:
    """[("test:1", 3), ...]: labelled absolute weeks of the test and/or evaluation sets."""
    split = dataset.week_split()
    out = []
    for kind in which:
        out += [(f"{kind}:{i + 1}", w) for i, w in enumerate(getattr(split, kind))]
    return out


def score_frame(design, label: str, week: int, sums: list[np.ndarray]) -> pd.DataFrame:
    ids = np.array(design.participant_ids())
    return pd.DataFrame({"week": label, design.participant_label: ids,
                         **dict(zip(design.score_columns, sums)), "total_eur": sum(sums[1:], sums[0]),
                         "week_number": week})


def evaluate_policy(scenario, policy, seed: int = 0, weeks=None, keep_hours: bool = True):
    """Play `weeks` (labels, default the 12 test weeks + the evaluation week) without exploration.

    policy: a learner/policy object or a built-in policy name. Returns (scores, hours): per week and
    participant the design's scores, and (if `keep_hours`) the design's per-hour evaluation table."""
    model = make_model(scenario, policy, seed, collect=keep_hours)
    if hasattr(policy, "explore"):
        policy.explore = False
    labels = week_labels() if weeks is None else [(w, dataset.resolve_week(w)[0]) for w in weeks]
    rows, hour_labels = [], []
    for label, w in labels:
        before = model.record.hours if keep_hours else 0
        rows.append(score_frame(model.design, label, w, play_week(model, w)))
        if keep_hours:
            hour_labels += [label] * (model.record.hours - before)
    scores = pd.concat(rows, ignore_index=True)
    hours = model.design.evaluation_hours(model.record, np.array(hour_labels, dtype=object)) if keep_hours else None
    return scores, hours


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def _rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def _set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


def _same_hyperparams(recorded, expect: dict) -> bool:
    """Whether a checkpoint's hyperparameters are `expect`, fields added since it was written taking their defaults."""
    from agents.learning.hyperparams import HyperParams

    try:
        return HyperParams.from_dict(recorded).to_dict() == expect
    except (TypeError, ValueError):
        return False


def _check_same_run(meta: dict, expect: dict, where: Path) -> None:
    config = json.loads(json.dumps(expect["learner_config"], default=str))  # as the checkpoint's JSON holds it
    for key, what, fix in (
        ("scenario_sha256", "scenario", "pass the same --scenario (or the scenario files changed since)"),
        ("hyperparams", "hyperparameters", "pass the same --episodes / --set values"),
        ("seed", "seed", "pass the same --seed"),
        ("learner", "learner", "pass the same --learner"),
        ("learner_config", "learner's configuration",
         "resume it with the localmarl version that started it (config.json: versions.git_commit)"),
    ):
        if key == "hyperparams":
            same = _same_hyperparams(meta.get(key), expect[key])
        else:
            same = meta.get(key) == (config if key == "learner_config" else expect[key])
        if not same:
            got, want = meta.get(key), expect[key]
            if key == "scenario_sha256":
                got, want = meta.get("scenario_name"), expect["scenario_name"]
            elif key == "learner_config":  # only the settings that differ: the follower groups' rows are long
                old = got or {}
                keys = sorted(k for k in {*old, *config} if old.get(k) != config.get(k))
                got, want = {k: old.get(k) for k in keys}, {k: config.get(k) for k in keys}
            raise CheckpointError(
                f"{where}: checkpoint does not match this run: {what} differs "
                f"(checkpoint: {got!r}, requested: {want!r}); {fix}, or use a new --out"
            )


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    episodes: int
    seconds: float
    market_hours: int
    curve: pd.DataFrame


def design_hyperparams(scenario, pairs: list[str] | None = None):
    """The learner hyperparameters of a scenario's design (`HyperParams()` with the design's own
    defaults, `MarketDesign.hyperparams`), then `--set NAME=VALUE` overrides."""
    from agents.learning.hyperparams import HyperParams
    from model.design import get_design

    design = get_design(load_scenario_arg(scenario).design)
    return HyperParams.from_dict(HyperParams().to_dict() | dict(design.hyperparams)).with_overrides(pairs)


def design_learner_config(scenario, pairs: list[str] | None = None) -> dict:
    """`--learner-config NAME=VALUE` texts as the learner configuration of a scenario's design
    (`MarketDesign.learner_config`: its `learner_settings` only, each value checked)."""
    from model.design import get_design

    return get_design(load_scenario_arg(scenario).design).learner_config(pairs)


RULE_START_FIT_STEPS = 1000  # Adam steps fitting the actors to the rule's stored actions (`HyperParams.rule_start_actions`)


class RuleStart:
    """The training policy of the first `rule_start_episodes` episodes (`HyperParams.rule_start_actions`): the
    learner (exploring) acts for everyone, and the design's rule policy's actions replace the named action
    components' (no exploration noise on them: they are the demonstrations the actors are then fitted to). The rule
    acts as it would alone: in the household designs its battery covers the meter of the rule's own EV and heat-pump
    powers, which is the household's meter wherever the battery has neither beside it (every cluster of the shipped
    scenarios). `constants` (per stage, column -> raw action): components played at a constant instead of the
    rule's."""

    name = "rule-start"

    def __init__(self, learner, rule, columns: dict[str, list[int]], constants: dict[str, dict[int, float]] | None = None):
        self.learner, self.rule, self.columns, self.constants = learner, rule, columns, constants or {}

    def act(self, stage, obs, rows):
        out = np.array(self.learner.act(stage, obs, rows), dtype=float)
        cols = self.columns.get(stage)
        if cols:
            out[:, cols] = np.asarray(self.rule.act(stage, obs, rows), dtype=float)[:, cols]
        for col, value in self.constants.get(stage, {}).items():
            out[:, col] = value
        return out


def _rule_start(design, hp, learner, rule_name: str, seed: int) -> RuleStart:
    """The rule-start policy of a training run: `rule_name` (the design's first built-in policy, its rule) for the
    components `hp.rule_start_actions` of every acting stage that has them."""
    constants = hp.rule_start_constants
    names = set(hp.rule_start_action_names) - set(constants)
    columns = {s.name: [i for i, n in enumerate(s.action.names) if n in names] for s in design.acting_stages()}
    fixed = {s.name: {i: constants[n] for i, n in enumerate(s.action.names) if n in constants}
             for s in design.acting_stages()}
    return RuleStart(learner, design.make_policy(rule_name, np.random.default_rng([seed, 6])), columns, fixed)


def train(scenario="s-a", episodes: int | None = None, seed: int = 0, out: str | Path = "runs/out/train",
          eval_every: int = 50, device: str = "cpu", resume: bool = False, hp=None, checkpoint_every: int = 250,
          progress: bool = True, overwrite: bool = False, callback=None, learner: str | None = None,
          learner_config: dict | None = None, snapshot_every: int = 0) -> TrainResult:
    """Train the design's learner for `scenario` (name, TOML path or scenario) and write a run folder.

    learner: one of the design's learner kinds (default its first). learner_config: keys of the
    design's `learner_settings` over its learner's own values (`design_learner_config` reads them
    from `--learner-config` texts); recorded with the run. hp: default the design's
    (`design_hyperparams`). episodes overrides `hp.episodes`. eval_every: episodes between
    evaluations (the training curve; also at episode 0 and the last). resume: continue from the
    newest checkpoint in `out` (same scenario, seed, hyperparameters); a finished run is returned
    as it is. callback(episode, learner) runs after every episode. snapshot_every: episodes between the
    policy snapshots kept in `snapshots/` (`save_snapshot`; also episode 0 and the last; 0: none), for
    checks along training; the training is the same with or without them."""
    import torch

    from agents.learning.hyperparams import RECONSTRUCTED
    from runs.output import prepare_run_dir, run_metadata

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    hp = hp or design_hyperparams(scenario)
    if episodes is not None:
        hp = dataclasses.replace(hp, episodes=int(episodes))
    if eval_every < 1 or checkpoint_every < 1:
        raise ValueError("eval_every and checkpoint_every must be >= 1 episode")
    if snapshot_every < 0:
        raise ValueError(f"snapshot_every must be 0 (no snapshots) or more episodes (got {snapshot_every})")
    from agents.learning.team import resolve_device

    resolve_device(device)  # a bad --device is an error before the run folder is touched
    sc = load_scenario_arg(scenario)
    from model.design import get_design

    kind = get_design(sc.design)  # everything is checked before the run folder is touched
    if hp.keep_best and kind.keep_best_refused:
        raise ValueError(f"keep_best: the {sc.design} design has no score to keep a best snapshot by: "
                         f"{kind.keep_best_refused}")
    if hp.keep_best_per_group and kind.keep_best_per_group_refused:
        raise ValueError(f"keep_best_per_group: the {sc.design} design cannot keep its learning groups at their own "
                         f"snapshots: {kind.keep_best_per_group_refused}. Train with keep_best_per_group=false")
    if hp.selection_best_response and kind.selection_best_response_refused:
        raise ValueError(f"selection_best_response: the {sc.design} design cannot weigh a best response into its "
                         f"snapshot selection: {kind.selection_best_response_refused}. Train with "
                         "selection_best_response=0")
    if hp.exploring_starts and kind.exploring_starts_refused:
        raise ValueError(f"exploring_starts: the {sc.design} design cannot start training episodes part-way: "
                         f"{kind.exploring_starts_refused}. Train with exploring_starts=0")
    if hp.counterfactual_households and kind.counterfactual_households_refused:
        raise ValueError(f"counterfactual_households: the {sc.design} design cannot replay its households' hours: "
                         f"{kind.counterfactual_households_refused}. Train with counterfactual_households=0")
    if learner is not None and learner not in kind.learners:
        raise ValueError(f"--learner {learner!r}: the {sc.design} design trains one of {list(kind.learners)}")
    unknown = sorted(set(learner_config or {}) - set(kind.learner_settings))
    if unknown:
        raise ValueError(f"learner_config {unknown}: not settings of the {sc.design} design's learner "
                         f"(it has {sorted(kind.learner_settings) or 'none'})")
    model = make_model(sc, default_policy_name(sc), seed, week="train:1")
    design = model.design
    actions = {n for r in design.role_specs() for n in r.action.names}
    for option, wanted in (("requested_actions", set(hp.requested_action_names)),
                           ("rule_start_actions", set(hp.rule_start_action_names)),
                           ("counterfactual_actions", set(hp.counterfactual_action_names))):
        if wanted - actions:
            raise ValueError(f"{option} {sorted(wanted - actions)}: not actions of the {sc.design} design "
                             f"(it has {sorted(actions)})")
    for r in design.role_specs():  # a rule-start constant inside its action's bounds
        for name, value in hp.rule_start_constants.items():
            if name in r.action.names:
                i = r.action.names.index(name)
                low, high = r.action.low[i], r.action.high[i]
                if not low <= value <= high:
                    raise ValueError(f"rule_start_actions {name}={value:g}: outside the {name} action's range "
                                     f"[{low:g}, {high:g}] in the {sc.design} design")
    config = ({"variant": learner} if learner else {}) | dict(learner_config or {})
    learner = design.default_learner(hp, seed, device, config or None)
    problem = learner.imitation_problem(hp.rule_start_action_names) if hp.rule_start_episodes else None
    if problem:
        raise ValueError(f"rule_start_actions: the {learner.kind} learner cannot start from the rule: {problem}")
    # keep_best_per_group: the groups' participants (none for a learner of one group, which keeps its best whole snapshot)
    group_rows = _group_rows(learner) if hp.keep_best_per_group else {}
    run_dir = prepare_run_dir(out, resume, overwrite)

    model.set_policy(learner)
    rule_start = _rule_start(design, hp, learner, default_policy_name(sc), seed) if hp.rule_start_episodes else None
    eval_model = make_model(sc, learner, seed)
    eval_rng_state = _rng_state(eval_model.np_rng)
    train_rng = np.random.default_rng([seed, 1])  # which training episode each episode plays
    start_rng = np.random.default_rng([seed, 5])  # exploring starts: which episodes start part-way, and where
    pool = design.training_episodes()
    eval_week = dataset.week_split().eval[0]
    # keep_best: the weeks whose summed score selects the snapshot; those past the evaluation week are played too
    selection_weeks = hp.selection_week_numbers() if hp.keep_best else [eval_week]
    extra_weeks = [w for w in selection_weeks if w != eval_week]
    ids = list(design.participant_ids())
    meta = {
        "scenario_name": sc.name,
        "scenario_arg": scenario if isinstance(scenario, str) else sc.source or sc.name,
        "scenario_sha256": scenario_sha256(sc),
        "scenario": sc.to_dict(),
        "design": sc.design,
        "participant_ids": ids,
        "learner": learner.kind,
        "learner_config": learner.config,
        "roles": [r.to_dict() for r in design.role_specs()],
        "hyperparams": hp.to_dict(),
        "seed": seed,
        "device": str(learner.device),
    }
    curve_columns = ["episode", design.participant_label, "eval_score_eur", *design.score_columns,
                     *(["selection_score_eur"] if extra_weeks else []),
                     *(["best_response_gain_eur"] if hp.selection_best_response else [])]

    start, curve = 0, []
    best = {}  # keep_best: the best snapshot so far ({"episode", "score", "state"})
    first_kept = min(math.ceil(hp.keep_best_from * hp.episodes), hp.episodes)  # keep_best: the first episode whose
    # snapshot competes (`keep_best_from`; the last always does)
    best_groups = {}  # keep_best_per_group: per group (slot name) its best snapshot so far ({"episode", "score", "state"})
    if resume:
        ck = latest_checkpoint(run_dir)
        if ck is None:
            if (run_dir / POLICY_META).exists():
                raise CheckpointError(f"{run_dir}: finished run without checkpoints; nothing to resume")
        else:
            ck_meta, state = read_verified(ck, CHECKPOINT_KIND)
            _check_same_run(ck_meta, meta, ck)
            try:
                learner.load_state(state["brain"])
            except (KeyError, RuntimeError, ValueError) as e:
                raise CheckpointError(f"{ck}: tensors do not fit this scenario's networks ({e})") from None
            torch.set_rng_state(state["torch_rng"])
            _set_rng_state(train_rng, ck_meta["rng"]["weeks"])
            _set_rng_state(learner.rng, ck_meta["rng"]["brain"])
            _set_rng_state(model.np_rng, ck_meta["rng"]["model"])
            if "starts" in ck_meta["rng"]:  # (checkpoints written before exploring starts existed have none)
                _set_rng_state(start_rng, ck_meta["rng"]["starts"])
            learner.sigma = ck_meta["sigma"]
            start, curve = ck_meta["episode"], ck_meta["curve"]
            if hp.keep_best and ck_meta.get("best"):  # (none yet where `keep_best_from` starts later)
                best = {**ck_meta["best"], "state": state["best_policy"]}
            if group_rows and ck_meta.get("best_groups"):
                best_groups = {k: {**v, "state": state["best_group_policies"][k]} for k, v in ck_meta["best_groups"].items()}
    config = run_metadata("train", {
        "scenario": meta["scenario_arg"], "episodes": hp.episodes, "seed": seed, "out": str(run_dir),
        "eval_every": eval_every, "checkpoint_every": checkpoint_every, "device": str(learner.device),
        **({"snapshot_every": snapshot_every} if snapshot_every else {}),
        "resumed_from_episode": start,
    }, sc) | {"hyperparams": hp.to_dict(), "hyperparams_reconstructed": RECONSTRUCTED, "learner": learner.kind}
    write_json_atomic(run_dir / CONFIG_FILE, config)

    focus = ids.index(design.focus_participant) if design.focus_participant in ids else None

    def play_selection_weeks():
        """The evaluation week's per-score sums and total, and the selection weeks' summed total (per participant)."""
        learner.explore = False
        _set_rng_state(eval_model.np_rng, eval_rng_state)
        sums = play_week(eval_model, eval_week)
        total = sum(sums[1:], sums[0])
        selected = {w: total for w in selection_weeks if w == eval_week}  # each selection week's total
        for week in extra_weeks:  # after the evaluation week, whose scores stay those of a run without them
            week_sums = play_week(eval_model, week)
            selected[week] = sum(week_sums[1:], week_sums[0])
        return sums, total, sum(selected.values())

    def evaluate(episode: int) -> str:
        sums, total, selection_total = play_selection_weeks()
        # selection_best_response: what the design's cheap best response gains over this snapshot on the selection weeks
        gain = design.selection_best_response_eur(eval_model, learner, selection_weeks) if hp.selection_best_response else None
        for i, pid in enumerate(ids):
            curve.append({"episode": episode, design.participant_label: pid, "eval_score_eur": float(total[i]),
                          **{c: float(s[i]) for c, s in zip(design.score_columns, sums)},
                          **({"selection_score_eur": float(selection_total[i])} if extra_weeks else {}),
                          **({"best_response_gain_eur": float(gain[i])} if gain is not None else {})})
        write_csv_atomic(run_dir / TRAIN_CURVE, pd.DataFrame(curve, columns=curve_columns))
        text = f"eval: all €{float(total.sum()):,.0f}"
        if hp.keep_best and episode >= first_kept:
            score = design.selection_score(selection_total)
            if gain is not None:  # the participants searched (NaN: not searched)
                score -= hp.selection_best_response * float(np.nansum(gain))
            score = _finite_score(score)
            if not best or score > best["score"]:  # a tie keeps the earlier snapshot
                best.update(episode=episode, score=score, state=copy.deepcopy(learner.policy_state()))
            text += f", best ep {best['episode']}"
            for slot in learner.slots if group_rows else ():
                kept = best_groups.get(slot.name)
                group_score = _finite_score(design.selection_score(selection_total[group_rows[slot.name]]))
                if kept is None or group_score > kept["score"]:
                    best_groups[slot.name] = {"episode": episode, "score": group_score,
                                              "state": copy.deepcopy(slot.group.policy_state())}
        return text + (f", {design.participant_label} {ids[focus]} €{float(total[focus]):,.0f}" if focus is not None else "")

    def snapshot(episode: int) -> None:
        if snapshot_every and (episode % snapshot_every == 0 or episode == hp.episodes):
            save_snapshot(run_dir, episode, learner, meta)

    if start == 0:
        evaluate(0)
        snapshot(0)
    t0, hours0 = time.perf_counter(), model.hours_done
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=hp.episodes, initial=start, desc=f"train {sc.name} seed {seed}", unit="ep",
                   mininterval=1.0, file=sys.stderr, dynamic_ncols=True)
    playing_rule = False  # whether the rule plays `rule_start_actions` (the first `rule_start_episodes` episodes)
    try:
        for episode in range(start + 1, hp.episodes + 1):
            if (episode <= hp.rule_start_episodes) != playing_rule:
                playing_rule = not playing_rule
                model.set_policy(rule_start if playing_rule else learner)
                learner.rule_start_playing = playing_rule  # `Team.counterfactuals` pauses for the rule's components
            week, first_hour, hours = training_episode(design, pool, train_rng, hp.exploring_starts, start_rng)
            learner.explore = True
            play_episode(model, week, first_hour, hours, learner=learner)
            # the actors fitted to the rule are held while their critics learn them (`rule_start_critic_episodes`)
            learner.hold_actors(hp.rule_start_action_names,
                                hp.rule_start_episodes < episode <= hp.rule_start_episodes + hp.rule_start_critic_episodes)
            learner.end_episode()
            if episode == min(hp.rule_start_episodes, hp.episodes):  # the rule's episodes are over: its actions
                # become the actors' start
                learner.imitate(hp.rule_start_action_names, RULE_START_FIT_STEPS)
            if episode % eval_every == 0 or episode == hp.episodes:
                text = evaluate(episode)
                if bar is not None:
                    bar.set_postfix_str(text, refresh=False)
            snapshot(episode)
            if episode % checkpoint_every == 0 or episode == hp.episodes:
                kept, tensors = {}, {}
                if best:  # keep_best (none yet before `keep_best_from`'s first competing snapshot)
                    kept["best"] = {"episode": best["episode"], "score": best["score"]}
                    tensors["best_policy"] = best["state"]
                if best_groups:
                    kept["best_groups"] = {k: {"episode": v["episode"], "score": v["score"]} for k, v in best_groups.items()}
                    tensors["best_group_policies"] = {k: v["state"] for k, v in best_groups.items()}
                save_checkpoint(run_dir, episode, learner, {
                    "sigma": learner.sigma, "curve": curve,
                    "rng": {"weeks": _rng_state(train_rng), "brain": _rng_state(learner.rng), "model": _rng_state(model.np_rng),
                            "starts": _rng_state(start_rng)},
                    **kept,
                }, meta, tensors=tensors or None)
            if bar is not None:
                bar.update(1)
            if callback is not None:
                callback(episode, learner)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    final = meta | {"episode": hp.episodes, "train_seconds_last_session": seconds}
    if hp.keep_best:
        save_policy(run_dir, learner, final, name=LAST_POLICY_FILE)
        selected = {"selected_episode": best["episode"], "selected_score": best["score"], "selected_on": hp.selection_weeks,
                    **({"selected_from_episode": first_kept} if first_kept else {}),  # (`keep_best_from`)
                    **({"selected_best_response_weight": hp.selection_best_response} if hp.selection_best_response else {})}
        state = best["state"]
        if group_rows:  # each group at its own best snapshot, handed on where the whole scores at least as well
            composed = _canonical_state({k: v["state"] for k, v in best_groups.items()})
            learner.load_state(composed)
            score = _finite_score(design.selection_score(play_selection_weeks()[2]))
            groups = {k: v["episode"] for k, v in best_groups.items()}
            selected["selected_groups"] = groups if score >= best["score"] else None
            selected["selected_groups_score"] = score  # the composed policy's, handed on or not
            if score >= best["score"]:
                selected["selected_score"], state = score, composed
        save_policy(run_dir, learner, final | selected, state=state)
    else:
        save_policy(run_dir, learner, final)
    return TrainResult(run_dir, hp.episodes, seconds, model.hours_done - hours0, pd.DataFrame(curve, columns=curve_columns))


def _finite_score(score: float) -> float:
    """A selection score, -inf where an evaluation diverged (such a snapshot is never kept)."""
    return float(score) if np.isfinite(score) else -np.inf


def _canonical_state(state):
    """A nested dict of tensors rebuilt with interned keys: its parts may come from memory or from a checkpoint (a
    resumed run), and this way it pickles to the same bytes either way."""
    if isinstance(state, dict):
        return {sys.intern(str(k)): _canonical_state(v) for k, v in state.items()}
    return state


def _group_rows(learner) -> dict:
    """`keep_best_per_group`: per learning group (slot name) the participants it plays (its rows; all where it plays
    every row), or {} for a learner without groups to keep apart (one slot, or none)."""
    slots = getattr(learner, "slots", None) or []
    if len(slots) < 2:
        return {}
    return {s.name: (slice(None) if s.rows is None else np.asarray(s.rows)) for s in slots}


# ---------------------------------------------------------------------------------------------
# trained policies
# ---------------------------------------------------------------------------------------------
def _legacy_roles(meta: dict):
    """The roles of a run written before runs recorded them: its scenario's design, built anew."""
    model = make_model(meta["scenario_arg"], default_policy_name(meta["scenario_arg"]), 0)
    return model.design.role_specs()


def load_trained_policy(run_dir: str | Path, device: str = "cpu", last: bool = False):
    """(learner, metadata) of a run folder: its policy (with `keep_best`, the snapshot kept; `last`: the
    final one), or its newest checkpoint while it is still training. Works on the CPU with only the run
    folder; the learner acts without exploration. Use it as `MarketModel(scenario=meta["scenario_arg"], policy=learner)`."""
    return load_policy(run_dir, legacy_roles=_legacy_roles, device=device, last=last)


def evaluate_run(run_dir: str | Path, out: str | Path, weeks=None, overwrite: bool = False,
                 overrides: dict | None = None, wrap=None, last: bool = False) -> pd.DataFrame:
    """Write `out/scores.csv` (12 test weeks + evaluation week) and `out/hours.csv` for a trained run,
    on its scenario with `overrides` applied (settings a run may override, e.g. a market rule; checked
    before anything is written; recorded in config.json). `wrap(learner, meta) -> (policy, record)`: play
    that policy instead of the learned one (e.g. a fitted-play policy over it), `record` added to config.json.
    last: the run's last snapshot where it kept a better one (`keep_best`)."""
    import json

    import torch

    from runs.output import check_out, output_dir, run_metadata

    torch.set_num_threads(1)
    check_out(out, overwrite)  # a bad --out fails now, not after the evaluation
    learner, meta = load_trained_policy(run_dir, last=last)
    played = {}
    if wrap is not None:
        learner, played = wrap(learner, meta)
    sc = load_scenario_arg(meta["scenario_arg"])
    if scenario_sha256(sc) != meta["scenario_sha256"]:
        print(f"warning: scenario '{sc.name}' changed since {run_dir} was trained; evaluating on the current one",
              file=sys.stderr)
    sc = sc.with_overrides(**(overrides or {}))
    scores, hours = evaluate_policy(sc, learner, seed=meta["seed"], weeks=weeks)
    with output_dir(Path(out), overwrite) as tmp:
        scores.to_csv(tmp / "scores.csv", index=False, float_format="%.6g")
        hours.to_csv(tmp / "hours.csv", index=False, float_format="%.6g")
        (tmp / "config.json").write_text(json.dumps(
            run_metadata("evaluate", {"run": str(run_dir), "out": str(out), "overrides": overrides or {}}, sc) | {"trained": {
                k: meta.get(k) for k in ("scenario_name", "seed", "episode", "selected_episode", "hyperparams", "learner")}} | played,
            indent=2, default=str) + "\n")
    return scores
