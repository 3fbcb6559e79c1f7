"""Training HMADDPG bidders through the Mesa model (paper Algorithm 1), with checkpoints and resume.

    for episode = 1 .. E:
        week <- a random training week;   model.reset_week(week)
        for each hour t of the week:      model.step()   (brains act with exploration noise;
                                                          LEM -> LFM -> balancing clear)
            store (o1, a1, r_primary) and (o2, a2, r2) of hour t in the stages' buffers
        5 updates of every primary and secondary sub-agent;  sigma <- sigma * decay
        every K episodes: play the evaluation week without noise -> training curve

A run folder holds:
    config.json                 what made the run (arguments, scenario, hyperparameters, versions)
    train_curve.csv             episode, aggregator, eval_score_eur (+ first/second-stage parts)
    checkpoints/ep<E>.pt/.json  full training state (nets, Adam, replay buffers, RNG states) + metadata
    policy.pt / policy.json     the final policy (actors and critics only), for `load_trained_brain`

Exact resume: every random stream is checkpointed (week choice, exploration/mini-batches, the
model's own generator, torch), checkpoints are taken at episode boundaries, and each episode
starts the LFM solver cold, so the warm-start basis left by the previous episode cannot make a
resumed run differ from an uninterrupted one. Files are written to a temporary name and renamed;
a checkpoint's JSON (written last) carries the SHA-256 of its tensor file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from model import dataset

TRAIN_CURVE = "train_curve.csv"
CHECKPOINTS = "checkpoints"
POLICY_FILE, POLICY_META = "policy.pt", "policy.json"
CONFIG_FILE = "config.json"
CHECKPOINT_KIND = "localmarl-hmaddpg-checkpoint"
POLICY_KIND = "localmarl-hmaddpg-policy"
FORMAT_VERSION = 1
CURVE_COLUMNS = ("episode", "aggregator", "eval_score_eur", "first_stage_eur", "second_stage_eur")
SCORE_COLUMNS = ("week", "aggregator", "first_stage_eur", "second_stage_eur", "total_eur", "week_number")


class CheckpointError(ValueError):
    """A checkpoint or policy file is missing, corrupt, or belongs to a different run."""


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def scenario_sha256(scenario) -> str:
    """Fingerprint of what a scenario simulates (not where its file lives)."""
    d = scenario.to_dict()
    d.pop("source", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, write) -> None:
    """write(tmp_path) then rename over `path`: readers see the old file or the new one, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, obj) -> None:
    _write_atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2, default=str) + "\n"))


def write_csv_atomic(path: Path, df: pd.DataFrame) -> None:
    _write_atomic(path, lambda p: df.to_csv(p, index=False, float_format="%.6g"))


def cold_start_lfm(model) -> None:
    """Drop the LFM solver's warm-start basis so an hour's result never depends on earlier episodes."""
    model.dso.solver.reset()


def load_scenario_arg(scenario):
    from model.scenario import Scenario, load_scenario

    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


def make_model(scenario, policy, seed: int, week="eval:1"):
    from model.model import LocalMarketModel

    return LocalMarketModel(scenario=load_scenario_arg(scenario), week=week, policy=policy, collect=False, seed=seed)


def new_brain(model, hp, seed: int, device="cpu"):
    from agents.hmaddpg import HMADDPGBrain

    sc = model.scenario
    return HMADDPGBrain(sc.n_aggregators, model.arbitrage_mask, sc.market.flex_price_max_eur_mwh, hp, seed, device)


# ---------------------------------------------------------------------------------------------
# playing weeks
# ---------------------------------------------------------------------------------------------
def play_week(model, week: int, brain=None, learn: bool = False, keep_hours: bool = False):
    """Play one absolute week; returns per-aggregator (r1 sums, r2 sums) and optionally the hours.

    With `learn`, every hour is stored in `brain`'s buffers (the last one as terminal).
    """
    cold_start_lfm(model)
    model.reset_week(week)
    n = model.scenario.n_aggregators
    r1, r2 = np.zeros(n), np.zeros(n)
    hours = []
    while model.running:
        model.step()
        h = model.hour_result
        r1 += h.r1
        r2 += h.r2
        if learn:
            brain.remember(h, last=not model.running)
        if keep_hours:
            hours.append(h)
    return r1, r2, hours


def hours_frame(model, hours, week_label: str) -> pd.DataFrame:
    """Tidy per-hour, per-aggregator outcome of played hours (for the figures)."""
    ids = np.array(model.scenario.aggregator_ids)
    n = len(ids)
    cols = {
        "withhold": lambda h: h.withhold,
        "up_bid_eur_mwh": lambda h: h.flex_bid_eur_mwh[:, 0],
        "dn_bid_eur_mwh": lambda h: h.flex_bid_eur_mwh[:, 1],
        "available_mw": lambda h: h.offer_cap_mw,
        "load_mw": lambda h: h.load_mw,
        "p_gen_mw": lambda h: h.p_gen_mw,
        "p_sched_mw": lambda h: h.p_sched_mw,
        "up_mw": lambda h: h.up_mw,
        "dn_mw": lambda h: h.dn_mw,
        "dlmp_eur_mwh": lambda h: h.dlmp_agg_eur_mwh,
        "imbalance_mw": lambda h: h.imbalance_mw,
        "lem_cost_eur": lambda h: h.lem_cost_eur,
        "lfm_cost_eur": lambda h: h.lfm_cost_eur,
        "bm_cost_eur": lambda h: h.bm_cost_eur,
        "r1": lambda h: h.r1,
        "r2": lambda h: h.r2,
        "lem_price_eur_mwh": lambda h: np.full(n, h.lem_price_eur_mwh),
        "imb_long_eur_mwh": lambda h: np.full(n, h.imb_long_eur_mwh),
        "imb_short_eur_mwh": lambda h: np.full(n, h.imb_short_eur_mwh),
        # the LFM's emergency slack, summed over the feeder (the same on every aggregator's row of the hour):
        # load it sheds, priced at the value of lost load, which then sets the DLMPs, above any bid
        "feeder_load_shed_mw": lambda h: np.full(n, h.lfm.slack_up_mw.sum()),
        "feeder_curtailed_mw": lambda h: np.full(n, h.lfm.slack_dn_mw.sum()),
    }
    data = {
        "week": np.repeat(week_label, n * len(hours)),
        "hour_of_week": np.repeat([h.hour_of_week for h in hours], n),
        "aggregator": np.tile(ids, len(hours)),
    }
    for name, fn in cols.items():
        data[name] = np.concatenate([np.asarray(fn(h), float) for h in hours])
    return pd.DataFrame(data)


def week_labels(which=("test", "eval")) -> list[tuple[str, int]]:
    """[("test:1", 3), ...]: labelled absolute weeks of the test and/or evaluation sets."""
    split = dataset.week_split()
    out = []
    for kind in which:
        out += [(f"{kind}:{i + 1}", w) for i, w in enumerate(getattr(split, kind))]
    return out


def evaluate_policy(scenario, policy, seed: int = 0, weeks=None, keep_hours: bool = True):
    """Play `weeks` (labels, default 12 test weeks + evaluation week) without exploration.

    policy: a brain object or a policy name (`truthful`, `rule`, ...). Returns (scores, hours).
    """
    model = make_model(scenario, policy, seed)
    brain = model.aggregators[0].brain
    if hasattr(brain, "explore"):
        brain.explore = False
    ids = np.array(model.scenario.aggregator_ids)
    labels = week_labels() if weeks is None else [(w, dataset.resolve_week(w)[0]) for w in weeks]
    rows, frames = [], []
    for label, w in labels:
        r1, r2, hours = play_week(model, w, keep_hours=keep_hours)
        rows.append(pd.DataFrame({
            "week": label, "aggregator": ids, "first_stage_eur": r1, "second_stage_eur": r2,
            "total_eur": r1 + r2, "week_number": w,
        }))
        if keep_hours:
            frames.append(hours_frame(model, hours, label))
    scores = pd.concat(rows, ignore_index=True)[list(SCORE_COLUMNS)]
    return scores, (pd.concat(frames, ignore_index=True) if keep_hours else None)


# ---------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------
def _rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def _set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


def save_checkpoint(run_dir: Path, episode: int, brain, train_rng, model, curve: list[dict], meta: dict, keep: int = 2) -> Path:
    import torch

    ck = Path(run_dir) / CHECKPOINTS
    ck.mkdir(parents=True, exist_ok=True)
    pt = ck / f"ep{episode:06d}.pt"
    state = {"brain": brain.training_state(), "torch_rng": torch.get_rng_state()}
    _write_atomic(pt, lambda p: torch.save(state, p))
    info = {
        **meta,
        "kind": CHECKPOINT_KIND,
        "episode": episode,
        "sigma": brain.sigma,
        "rng": {"weeks": _rng_state(train_rng), "brain": _rng_state(brain.rng), "model": _rng_state(model.np_rng)},
        "curve": curve,
        "tensor_file": pt.name,
        "tensor_sha256": file_sha256(pt),
    }
    write_json_atomic(pt.with_suffix(".json"), info)
    for old in sorted(ck.glob("ep*.json"))[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".pt").unlink(missing_ok=True)
    return pt


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint whose JSON was written (a kill mid-write leaves the previous one)."""
    found = sorted((Path(run_dir) / CHECKPOINTS).glob("ep*.json"))
    return found[-1] if found else None


def read_verified(json_path: Path, kind: str) -> tuple[dict, dict]:
    """Metadata and tensors of a checkpoint/policy, verified; clear errors for corrupt files."""
    import torch

    json_path = Path(json_path)
    try:
        meta = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{json_path}: cannot read metadata ({e}); the file is missing or corrupt") from None
    if meta.get("kind") != kind:
        raise CheckpointError(f"{json_path}: not a {kind} file (kind={meta.get('kind')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{json_path}: format_version {meta.get('format_version')} unsupported (expected {FORMAT_VERSION})")
    pt = json_path.with_name(meta["tensor_file"])
    if not pt.exists():
        raise CheckpointError(f"{pt}: tensor file missing (metadata {json_path.name} refers to it)")
    digest = file_sha256(pt)
    if digest != meta["tensor_sha256"]:
        raise CheckpointError(
            f"{pt}: corrupt (SHA-256 {digest[:12]}… != {meta['tensor_sha256'][:12]}… recorded in {json_path.name}); "
            "the file was truncated or changed. Delete this checkpoint pair to fall back to an older one, or retrain."
        )
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with the file name
        raise CheckpointError(f"{pt}: cannot be loaded with weights_only=True ({type(e).__name__}: {e})") from None
    return meta, state


def _check_same_run(meta: dict, expect: dict, where: Path) -> None:
    for key, what, fix in (
        ("scenario_sha256", "scenario", "pass the same --scenario (or the scenario files changed since)"),
        ("hyperparams", "hyperparameters", "pass the same --episodes / --set values"),
        ("seed", "seed", "pass the same --seed"),
    ):
        if meta.get(key) != expect[key]:
            got = meta.get("scenario_name") if key == "scenario_sha256" else meta.get(key)
            want = expect["scenario_name"] if key == "scenario_sha256" else expect[key]
            raise CheckpointError(
                f"{where}: checkpoint does not match this run: {what} differs "
                f"(checkpoint: {got!r}, requested: {want!r}); {fix}, or use a new --out"
            )


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    episodes: int
    seconds: float
    market_hours: int
    curve: pd.DataFrame


def train(
    scenario="s-a",
    episodes: int | None = None,
    seed: int = 0,
    out: str | Path = "runs/out/train",
    eval_every: int = 50,
    device: str = "cpu",
    resume: bool = False,
    hp=None,
    checkpoint_every: int = 250,
    progress: bool = True,
    overwrite: bool = False,
    callback=None,
) -> TrainResult:
    """Train HMADDPG bidders for `scenario` (name, TOML path or `Scenario`) and write a run folder.

    episodes overrides `hp.episodes` (default: paper's 5000). eval_every: episodes between
    evaluations on the evaluation week (the training curve; also at episode 0 and the last).
    resume: continue from the newest checkpoint in `out` (same scenario, seed, hyperparameters);
    a finished run is returned as it is. callback(episode, brain) runs after every episode.
    """
    import torch

    from agents.hmaddpg import HyperParams
    from runs.output import run_metadata

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    hp = hp or HyperParams()
    if episodes is not None:
        hp = dataclasses.replace(hp, episodes=int(episodes))
    if eval_every < 1 or checkpoint_every < 1:
        raise ValueError("eval_every and checkpoint_every must be >= 1 episode")
    sc = load_scenario_arg(scenario)
    from runs.output import prepare_run_dir

    run_dir = prepare_run_dir(out, resume, overwrite)

    model = make_model(sc, "truthful", seed, week="train:1")
    brain = new_brain(model, hp, seed, device)
    model.set_brain(brain)
    eval_model = make_model(sc, brain, seed)
    eval_rng_state = _rng_state(eval_model.np_rng)
    train_rng = np.random.default_rng([seed, 1])  # which training week each episode plays
    split = dataset.week_split()
    ids = list(sc.aggregator_ids)
    meta = {
        "format_version": FORMAT_VERSION,
        "scenario_name": sc.name,
        "scenario_arg": scenario if isinstance(scenario, str) else sc.source or sc.name,
        "scenario_sha256": scenario_sha256(sc),
        "scenario": sc.to_dict(),
        "aggregator_ids": ids,
        "arbitrage_ids": sorted(sc.arbitrage),
        "flex_price_max_eur_mwh": sc.market.flex_price_max_eur_mwh,
        "hyperparams": hp.to_dict(),
        "seed": seed,
        "device": str(brain.device),
    }

    start, curve = 0, []
    if resume:
        ck = latest_checkpoint(run_dir)
        if ck is None:
            if (run_dir / POLICY_META).exists():
                raise CheckpointError(f"{run_dir}: finished run without checkpoints; nothing to resume")
        else:
            ck_meta, state = read_verified(ck, CHECKPOINT_KIND)
            _check_same_run(ck_meta, meta, ck)
            try:
                brain.load_state(state["brain"])
            except (KeyError, RuntimeError, ValueError) as e:
                raise CheckpointError(f"{ck}: tensors do not fit this scenario's networks ({e})") from None
            torch.set_rng_state(state["torch_rng"])
            _set_rng_state(train_rng, ck_meta["rng"]["weeks"])
            _set_rng_state(brain.rng, ck_meta["rng"]["brain"])
            _set_rng_state(model.np_rng, ck_meta["rng"]["model"])
            brain.sigma = ck_meta["sigma"]
            start, curve = ck_meta["episode"], ck_meta["curve"]
    config = run_metadata("train", {
        "scenario": meta["scenario_arg"], "episodes": hp.episodes, "seed": seed, "out": str(run_dir),
        "eval_every": eval_every, "checkpoint_every": checkpoint_every, "device": str(brain.device),
        "resumed_from_episode": start,
    }, sc) | {"hyperparams": hp.to_dict(), "hyperparams_reconstructed": RECONSTRUCTED}
    write_json_atomic(run_dir / CONFIG_FILE, config)

    def evaluate(episode: int):
        brain.explore = False
        _set_rng_state(eval_model.np_rng, eval_rng_state)
        r1, r2, _ = play_week(eval_model, split.eval[0])
        for i, agg in enumerate(ids):
            curve.append({"episode": episode, "aggregator": agg, "eval_score_eur": float(r1[i] + r2[i]),
                          "first_stage_eur": float(r1[i]), "second_stage_eur": float(r2[i])})
        write_csv_atomic(run_dir / TRAIN_CURVE, pd.DataFrame(curve, columns=list(CURVE_COLUMNS)))
        return float((r1 + r2).sum()), float(r1[ids.index(5)] + r2[ids.index(5)]) if 5 in ids else float("nan")

    if start == 0:
        evaluate(0)
    t0, hours0 = time.perf_counter(), model.hours_done
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=hp.episodes, initial=start, desc=f"train {sc.name} seed {seed}", unit="ep",
                   mininterval=1.0, file=sys.stderr, dynamic_ncols=True)
    try:
        for episode in range(start + 1, hp.episodes + 1):
            week = int(train_rng.choice(split.train))
            brain.explore = True
            play_week(model, week, brain, learn=True)
            brain.end_episode()
            if episode % eval_every == 0 or episode == hp.episodes:
                total, agg5 = evaluate(episode)
                if bar is not None:
                    bar.set_postfix_str(f"eval: all €{total:,.0f}, agg 5 €{agg5:,.0f}", refresh=False)
            if episode % checkpoint_every == 0 or episode == hp.episodes:
                save_checkpoint(run_dir, episode, brain, train_rng, model, curve, meta)
            if bar is not None:
                bar.update(1)
            if callback is not None:
                callback(episode, brain)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    save_policy(run_dir, brain, meta | {"episode": hp.episodes, "train_seconds_last_session": seconds})
    return TrainResult(run_dir, hp.episodes, seconds, model.hours_done - hours0, pd.DataFrame(curve, columns=list(CURVE_COLUMNS)))


#: Hyperparameters the paper does not give (its extracted text lost them): shown in every config.
RECONSTRUCTED = ("buffer_size", "lr_actor", "lr_critic", "noise_sigma_final", "hidden_sizes", "reward_scale", "actor_output", "actor_reg")


def save_policy(run_dir: Path, brain, meta: dict) -> None:
    import torch

    pt = Path(run_dir) / POLICY_FILE
    _write_atomic(pt, lambda p: torch.save(brain.policy_state(), p))
    write_json_atomic(pt.with_suffix(".json"), meta | {
        "kind": POLICY_KIND, "tensor_file": pt.name, "tensor_sha256": file_sha256(pt),
    })


def load_trained_brain(run_dir: str | Path, device: str = "cpu"):
    """(brain, metadata) of a run folder: its final policy, or its newest checkpoint while training.

    Works on CPU with only the run folder. The brain acts without exploration noise; use it with
    `LocalMarketModel(scenario=meta["scenario_arg"], policy=brain)`.
    """
    from agents.hmaddpg import HMADDPGBrain, HyperParams

    run_dir = Path(run_dir)
    if (run_dir / POLICY_META).exists():
        meta, state = read_verified(run_dir / POLICY_META, POLICY_KIND)
        policy = state
    else:
        ck = latest_checkpoint(run_dir)
        if ck is None:
            raise CheckpointError(f"{run_dir}: no {POLICY_META} and no checkpoints; is this a `localmarl train` folder?")
        meta, state = read_verified(ck, CHECKPOINT_KIND)
        policy = state["brain"]
    hp = HyperParams.from_dict(meta["hyperparams"])
    ids = meta["aggregator_ids"]
    mask = np.isin(ids, meta["arbitrage_ids"])
    brain = HMADDPGBrain(len(ids), mask, meta["flex_price_max_eur_mwh"], hp, meta["seed"], device)
    try:
        brain.load_state({stage: {k: policy[stage][k] for k in ("actor", "critic", "actor_target", "critic_target")}
                          for stage in ("primary", "secondary")})
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(f"{run_dir}: policy tensors do not fit the networks its metadata describes ({e})") from None
    brain.explore = False
    return brain, meta


def evaluate_run(run_dir: str | Path, out: str | Path, weeks=None, overwrite: bool = False) -> pd.DataFrame:
    """Write `out/scores.csv` (12 test weeks + evaluation week) and `out/hours.csv` for a trained run."""
    import torch

    from runs.output import atomic_dir, run_metadata

    torch.set_num_threads(1)
    brain, meta = load_trained_brain(run_dir)
    sc = load_scenario_arg(meta["scenario_arg"])
    if scenario_sha256(sc) != meta["scenario_sha256"]:
        print(f"warning: scenario '{sc.name}' changed since {run_dir} was trained; evaluating on the current one",
              file=sys.stderr)
    scores, hours = evaluate_policy(sc, brain, seed=meta["seed"], weeks=weeks)
    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        scores.to_csv(tmp / "scores.csv", index=False, float_format="%.6g")
        hours.to_csv(tmp / "hours.csv", index=False, float_format="%.6g")
        (tmp / "config.json").write_text(json.dumps(
            run_metadata("evaluate", {"run": str(run_dir), "out": str(out)}, sc) | {"trained": {
                k: meta.get(k) for k in ("scenario_name", "seed", "episode", "hyperparams")}},
            indent=2, default=str) + "\n")
    return scores
