"""Hyperparameters of the MADDPG-family learners: the paper's values where it gives them, else
*reconstructed* (labelled). Validated on creation: a bad value is a named error, before any run starts."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import MappingProxyType

ACTOR_OUTPUTS = ("inverting-gradients", "sigmoid", "sigmoid-primary")  # HyperParams.actor_output


@dataclass(frozen=True)
class HyperParams:
    """HMADDPG hyperparameters: the paper's values where it gives them (Sec. IV-A), else
    *reconstructed* (its extracted text lost them, or it never says): common MADDPG defaults or
    values measured here, each labelled. `runs/study.py` profiles may change reconstructed ones."""

    # --- paper, Sec. IV-A -------------------------------------------------------------------
    gamma: float = 0.99  # no action changes the next observation here, so any gamma has the same optimal policies;
    # 0 spares the critics from fitting future rewards (the quick profile uses it: runs/study.py)
    batch_size: int = 35
    updates_per_episode: int = 5
    tau: float = 0.001
    noise_sigma0: float = 0.3  # std of the Gaussian exploration noise, in normalised action units [0, 1]
    episodes: int = 5000
    # --- reconstructed ----------------------------------------------------------------------
    buffer_size: int = 100_000  # common MADDPG default (spec)
    lr_actor: float = 1e-4  # common MADDPG default (spec)
    lr_critic: float = 1e-3  # common MADDPG default (spec)
    noise_sigma_final: float = 0.01  # sigma after the last episode; fixes the paper's per-episode decay factor
    hidden_sizes: tuple[int, ...] = (64, 64)  # two ReLU layers for every actor and critic
    reward_scale: float = 0.001  # euro -> learning units. Measured: with 0.01, TD errors in hours of LFM
    # rents (hundreds of euro) fall in Smooth L1's linear zone, the critic fits a median and aggregator
    # 5's one-arb test score halved (600-episode runs); 0.001 keeps most errors in the quadratic zone.
    actor_output: str = "sigmoid-primary"  # how an actor's raw output z becomes an action in [0, 1]:
    # "inverting-gradients" (a = clip(0.5 + z, 0, 1), policy gradient scaled by the distance to the bound it
    # points at, reversed beyond it: Hausknecht & Stone 2016, ICLR, "Deep RL in parameterized action space")
    # or "sigmoid" (a = sigmoid(z), runs written before this field existed), or "sigmoid-primary" (sigmoid
    # primaries, inverted-gradient secondaries). The paper does not say.
    # Measured with the sigmoid (quick study, 6 seeds): 86-96 % of test-week bids and withholdings sat
    # within 1 % of a bound, where sigmoid'(z) ~ 0 and the critic can no longer move them. Inverted gradients
    # everywhere: prices interior, but stand-alone primaries approach "withhold nothing" (a bound, their optimum)
    # slowly. "sigmoid-primary" (3 seeds): S-a aggregator 5 first stage -0.0 (inverted: -12.8), regrets
    # 52/34/33 % (inverted 56/36/32, sigmoid 61/37/47), 12-15 % of up bids at a bound (sigmoid 86 %).
    actor_reg: float = 0.0  # optional penalty on the actors' squared raw outputs z (the original MADDPG
    # code uses 1e-3 with unscaled rewards). It pulls every action toward 0.5 wherever the critic's gradient is
    # weak. Measured with the quick profile (800 episodes, 2 seeds, `localmarl study --set actor_reg=X`):
    # 1e-4 -> S-a aggregator 5 still withholds (first stage -50..-93 euro/week; paper ~0), one-arb beats S-a
    # for aggregator 5 in 1 of 2 seeds; 0 -> first stage -0.0, one-arb beats S-a in 2 of 2 seeds (gap +632,
    # paper +690). 1e-3 was worse still (-302 euro/week, 600-episode runs).

    per_agent_batches: bool = False  # a mini-batch of its own per agent of a joint group (the arbitrage
    # paper's Algorithm 1 samples one per sub-agent); False: one draw for the group (each agent's batch is
    # still uniform). See the README's "Convergence" for what it did.
    action_search: int = 0  # K > 0: each actor update also pulls every sampled action toward the critic's best of
    # the actor's action and K uniform random actions (sampled policy improvement; 0: the plain policy gradient)
    action_search_weight: float = 1.0  # weight of that pull (squared distance in [0, 1] action units)
    requested_actions: str = ""  # action components (comma-separated names, e.g. "battery") stored in the buffers as
    # the policy asked for them, not as the devices executed them ("": every component as executed, the default). A
    # battery asked to discharge when empty executes nothing; stored as executed, "discharge" is recorded only where
    # there was energy, and the critic learns a value of the discharge action instead of the energy (docs/p2p.md,
    # "Why the batteries do not learn")
    explore_uniform: float = 0.0  # share of exploring actions (each agent's each action component, each hour) drawn
    # uniformly from the action's range instead of the actor's action plus Gaussian noise, at the start; it decays with
    # sigma (share * sigma / noise_sigma0). The Gaussian noise around an action at a bound whose neighbourhood all
    # executes alike (a discharge request on an empty battery) never shows the critic the other side (0: off)
    actor_z_max: float = 0.0  # > 0: sigmoid actors pay max(|z| - actor_z_max, 0)^2 on their raw outputs z, so
    # they cannot drift into deep saturation (sigmoid(-30) ~ 1e-13), where sigmoid'(z) ~ 0 and no critic gradient
    # moves the action any more (0: off). Unlike actor_reg it does not pull interior actions toward 0.5.
    # Measured (quick profile, docs/arbitrage-study.md "Why all-arb aggregators 7 and 11..."): 8 was worse in S-a
    # and one-arb and mixed in all-arb, so it is off.
    mixed_levels: int = 0  # K >= 2: HMADDPG's secondary (LFM) actors play their first action (the up price) as a mixed
    # strategy, a learned softmax distribution over K evenly spaced levels in [0, 1] drawn every hour (`MixedJointGroup`);
    # 0: deterministic, as the paper. The arbitrage LFM's equilibria are in mixed strategies, but measured (one-arb, 2 seeds,
    # T = 0.01 / 0.001 / 0.0001; docs/arbitrage-study.md "A learner of mixed strategies") it left every aggregator short
    # of a constant bid, by 3-12x the deterministic learner's shortfall, so it is off
    mixed_temperature: float = 0.01  # weight of the mixed strategies' entropy in their actor loss, in scaled reward
    # units (reward_scale * euro): a softmax (logit) response, less greedy than a best response where levels earn alike
    mixed_temperature_relative: bool = False  # True: mixed_temperature is in units of each observation's spread of the
    # critic's level values (their standard deviation over the K levels), so the response is softmax(Q / (T * std Q)):
    # one T for hours and aggregators whose values differ by orders of magnitude (False: T in scaled reward units).
    # Measured (one-arb, 2 seeds, T = 0.1 / 0.3 / 1; docs/arbitrage-study.md "Mixed strategies with a scale-free
    # temperature"): more aggregators clearly short of a constant bid than the deterministic learner at every T, so off
    counterfactual_samples: int = 0  # M > 0: every hour, HMADDPG's secondaries (LFM) also store M re-cleared variants of
    # it, each with one random aggregator playing a uniformly random bid (`Team.counterfactuals`): what other prices would
    # have earned, which the critics otherwise only see near the current policy. Needs gamma = 0 (0: off)
    counterfactual_households: int = 0  # K > 0 (household designs): every training hour, K members drawn at random from
    # each parameter-shared household cluster play uniformly random actions instead of their own, the hour clears again
    # from the same start states (`MarketModel.reclear`: an exact joint transition), and each of those members' variant
    # transitions (its observation, the random action, the reward it would have got, the next hour's observation as its
    # devices would have left it) is stored beside the real ones and sampled with them: the critics see every action's
    # value at the states the policy visits, which exploration near a policy at a bound never shows them (docs/p2p.md,
    # "The heat pumps' critics, taken apart"). P2P households and the Stackelberg followers; unshared groups train without
    # them (a warning); one-step targets only (n_step = 1). Measured (stops 50-51, P2P, K = 8): quick profile, 15 paired
    # seeds: community cost lower in 10 of 15 (306.0 -> 303.6 EUR per test day), LP regret in 10 of 15 (0.155 -> 0.147),
    # the heat pumps unchanged, 1.3x the training time; paper profile, 3 seeds: 302.2 -> 302.7, LP regret 0.155 -> 0.150
    # (2 of 3): the quick profile's gain does not carry over; the Stackelberg followers (K = 2, quick, 8 paired seeds):
    # the leader's check regret 6.1 -> 4.7 % (5 of 8), the followers' cost 51.6 -> 52.2 EUR per day (3 of 8 lower);
    # so off (0: off; the Stackelberg design: 2, with counterfactual_actions = "limit_price", since stop 56)
    counterfactual_actions: str = ""  # the action components (comma-separated names, e.g. "limit_price") that the
    # counterfactual_households variants draw at random; the members' other components keep what they played ("": all
    # of the group's components, the default). With a limit price alone, a variant shows the critic what other orders
    # would have cleared and paid at the hour's own device schedule. Measured (stop 56, the Stackelberg followers,
    # K = 2, "limit_price", quick, seeds 0-3; docs/stackelberg.md "Counterfactual limit prices"): the pv-ev followers'
    # trained responders 7.8 -> 0.7 % (seed 2, all 13 members: median 14.2 -> 0 %), but the leader's check regret
    # 2.13 -> 2.78 % (lower in 1 of 4); on 8 seeds what best responders gain, summed over everyone, 3.1 -> 2.2 EUR per
    # day: the Stackelberg design's default since stop 56 (with counterfactual_households = 2)
    # MATD3 (Fujimoto et al. 2018, "Addressing function approximation error in actor-critic methods", ICML; its
    # multi-agent form: Ackermann et al. 2019, arXiv:1910.01465), three independent switches, all off as the paper:
    twin_critics: bool = False  # clipped double Q: a second critic per agent, fitted on the same target, which
    # bootstraps from the smaller of the two target critics' values (the actors follow the first critic). Acts on the
    # bootstrapped target only, so it needs gamma > 0
    target_noise: float = 0.0  # target-policy smoothing: std of the Gaussian noise (in [0, 1] action units, clipped to
    # +-2 std) added to the target actors' next actions in the bootstrapped target (TD3: 0.2 of a [-1, 1] range, i.e.
    # 0.1 here); needs gamma > 0
    policy_delay: int = 1  # the actors and all target networks are updated after every d-th critic update (TD3: 2)
    n_step: int = 1  # n > 1: the critics' targets are n-step returns, sum_{k<n} gamma^k r_{t+k} + gamma^n Q'(t+n), cut at
    # the episode's end (`ReplayBuffer.n_step_plan`): a reward that comes hours after the action that earned it (a
    # battery held for the evening peak) reaches that action's value in one update instead of through n bootstraps of
    # a critic that must first learn the stored energy's value. The intermediate actions are the behaviour's (with its
    # exploration noise): the return is off-policy by that much (Hessel et al. 2018, Rainbow; Barth-Maron et al. 2018,
    # D4PG use n = 3..5). Needs gamma > 0 (1: the one-step target, as the paper). Measured (stop 47, P2P quick, 6 paired
    # seeds, docs/p2p.md): n = 4 raised the community's cost in 6 of 6 (337.7 -> 387.0 EUR per test day), the heat pumps
    # heating 59 % more, so it is off
    lr_final_factor: float = 1.0  # both learning rates decay geometrically to this factor of their value by the
    # last episode (1: constant, as the paper)
    keep_best: bool = False  # True: the run's policy.pt is the snapshot that scored best on the evaluation week (the
    # design's `selection_score` of the training curve's evaluations, every `eval_every` episodes), not the last one; the
    # last is kept as policy_last.pt. It changes no training step, only which snapshot a run hands on (False: the last,
    # as the paper). The evaluation week is then a validation week: its scores flatter the run; the test weeks do not
    exploring_starts: float = 0.0  # share of training episodes that start at a random later hour of their day, from
    # random storage states (the design's `exploring_start`; household designs only): states a learner's own play
    # never reaches (a battery still holding energy in the afternoon) get visited and valued. Evaluation always plays
    # whole days from the day's own start states (0: off, every episode starts at midnight)
    rule_start_actions: str = ""  # action components (comma-separated names, e.g. "battery") that the design's rule
    # policy plays in the first `rule_start_episodes` training episodes (the learner, exploring, plays the rest); those
    # hours are stored as any others, and then each actor that plays such a component is fitted to the stored actions
    # of it (behaviour cloning, `RULE_START_FIT_STEPS` Adam steps): learning then starts from the rule's behaviour for
    # it, with a buffer and a critic that have seen it (docs/p2p.md, "Starting the batteries from the rule"). A
    # component written NAME=VALUE is played at that constant raw action instead of the rule's (e.g. "heat_pump=0": the
    # heat pumps at the floor of their bands as set point; docs/p2p.md, "The heat pumps started at the floor"). "": off
    rule_start_episodes: int = 0  # how many training episodes the rule plays `rule_start_actions` (0: off); a run of
    # no more episodes than this plays the rule in all of them and fits the actors to it after its last
    rule_start_critic_episodes: int = 0  # after the rule start's fit, the actors fitted to the rule (each slot that plays
    # a component of `rule_start_actions`, its whole actor) are held for this many episodes while the learner explores
    # and their critics keep learning: a critic trained in the rule's episodes has seen only the rule's actions (no
    # noise on them) and bootstrapped from the learner's own actor, not the rule, so its gradient at the fitted actor
    # points nowhere in particular; held, it first learns the fitted policy's values around its actions (0: off; the
    # P2P design holds 100: docs/p2p.md, "Why the batteries' learning stops at the rule")
    rule_anchor_weight: float = 0.0  # > 0 (needs a rule start): after the rule start's fit, every actor update also
    # pulls the fitted action components toward the actor as fitted (kept frozen) by this weight times their squared
    # distance in [0, 1] units, averaged over the mini-batch (TD3+BC's behaviour term, toward the fitted rule): a
    # critic whose gradient is right moves the actor off the rule by about dQ/da / (2 weight) per component, one
    # whose gradient is noise cannot drag it far (0: off; the P2P design: 0.2, docs/p2p.md "The batteries anchored to
    # their fit to the rule")
    selection_weeks: str = "eval:1"  # the weeks (comma-separated week specs, e.g. "eval:1,train:23") whose summed
    # `selection_score` decides which snapshot `keep_best` keeps; weeks past the first are played at every evaluation
    # too (the training curve's `selection_score_eur`). Test weeks are refused: selecting on them would flatter the
    # test scores. "eval:1" alone: the evaluation week (week 48, winter), which cannot see a summer failure
    keep_best_from: float = 0.0  # with keep_best: only snapshots from this share of the training episodes on compete
    # (evaluations before episode keep_best_from * episodes are scored and drawn but never kept; the last snapshot
    # always competes). 0: every snapshot, the untrained one included; 0.5: the second half's. On a plateau where the
    # selection weeks' score barely moves, an early snapshot wins by noise though later ones are trained longer.
    # Measured (stop 60, Stackelberg paper profile, 8 paired seeds, docs/stackelberg.md "The paper profile's kept
    # snapshot"): 0.5 lowered the day-ahead position's part of the leader's check regret (0.57 -> 0.36 points) but
    # not the regret (1.20 -> 1.50 %, lower in 2 of 8), so it is off
    selection_best_response: float = 0.0  # with keep_best: the selection score less this weight times what the
    # design's cheap best response gains over the learned snapshot on the selection weeks (EUR; the design's
    # `selection_best_response_eur`, e.g. the Stackelberg leader's myopic hour-by-hour search on a 3 x 3 price grid),
    # so that of two snapshots the one closer to a best response is kept; the gain is the training curve's
    # `best_response_gain_eur`. 0: off; a design without such a search refuses > 0 (`MarketDesign.selection_best_response_refused`)
    keep_best_per_group: bool = False  # with keep_best: each learning group (a cluster's shared actor) is kept at its own
    # best snapshot by its participants' summed selection score, and the composed policy is handed on where it scores
    # at least the best whole snapshot's on the selection weeks (else that snapshot); the design must map its groups
    # to its participants (`MarketDesign.keep_best_per_group_refused`); a learner of one group keeps its best whole
    # snapshot. False: one snapshot for every group

    def __post_init__(self):
        if self.actor_output not in ACTOR_OUTPUTS:
            raise ValueError(f"actor_output {self.actor_output!r}: use one of {ACTOR_OUTPUTS}")
        selection_problem = self._selection_week_problem()
        rule_start_problem = self._rule_start_actions_problem()
        rule_start_off = ("turning the rule start off, set rule_start_critic_episodes=0 and rule_anchor_weight=0 too "
                          "(on the command line `--set rule_start=off` sets all four)")
        for name, ok, rule in (
            ("gamma", 0.0 <= self.gamma <= 1.0, "must be in [0, 1] (the paper: 0.99; 1: the undiscounted episode, "
             "whose return is finite because every training episode ends)"),
            ("batch_size", self.batch_size >= 1, "must be >= 1 (the paper: 35)"),
            ("updates_per_episode", self.updates_per_episode >= 0, "must be >= 0 (the paper: 5)"),
            ("tau", 0.0 < self.tau <= 1.0, "must be in (0, 1] (the paper: 0.001)"),
            ("noise_sigma0", self.noise_sigma0 >= 0.0, "must be >= 0 (the paper: 0.3)"),
            ("noise_sigma_final", self.noise_sigma_final > 0.0, "must be > 0 (the decay factor divides by sigma0)"),
            ("episodes", self.episodes >= 1, "must be >= 1"),
            ("buffer_size", self.buffer_size >= self.batch_size, f"must be >= batch_size = {self.batch_size}"),
            ("lr_actor", self.lr_actor > 0.0, "must be > 0"),
            ("lr_critic", self.lr_critic > 0.0, "must be > 0"),
            ("reward_scale", self.reward_scale > 0.0, "must be > 0"),
            ("actor_reg", self.actor_reg >= 0.0, "must be >= 0"),
            ("action_search", self.action_search >= 0, "must be >= 0 (0: off)"),
            ("action_search_weight", self.action_search_weight >= 0.0, "must be >= 0"),
            ("actor_z_max", self.actor_z_max >= 0.0, "must be >= 0 (0: off)"),
            ("mixed_levels", self.mixed_levels == 0 or self.mixed_levels >= 2, "must be 0 (off) or >= 2 levels"),
            ("mixed_temperature", self.mixed_temperature >= 0.0, "must be >= 0"),
            ("counterfactual_samples", self.counterfactual_samples >= 0 and (self.counterfactual_samples == 0 or self.gamma == 0.0),
             "must be >= 0, and needs gamma = 0 (counterfactual transitions break the stored order of hours)"),
            ("counterfactual_households", self.counterfactual_households >= 0
             and (self.counterfactual_households == 0 or self.n_step == 1),
             "must be >= 0 (0: off), and needs n_step = 1: a variant transition has one step of its own"),
            ("twin_critics", not self.twin_critics or self.gamma > 0.0,
             "needs gamma > 0: the second critic only clips the bootstrapped target, which gamma = 0 removes"),
            ("target_noise", self.target_noise >= 0.0 and (self.target_noise == 0.0 or self.gamma > 0.0),
             "must be >= 0, and needs gamma > 0: it smooths the target actions of the bootstrapped target"),
            ("n_step", self.n_step >= 1 and (self.n_step == 1 or self.gamma > 0.0),
             "must be >= 1 (1: one-step targets, as the paper), and > 1 needs gamma > 0: at gamma = 0 the target is the "
             "hour's reward alone"),
            ("policy_delay", self.policy_delay >= 1, "must be >= 1 (1: every update, as the paper; TD3: 2)"),
            ("exploring_starts", 0.0 <= self.exploring_starts <= 1.0, "must be a share in [0, 1] (0: off)"),
            ("explore_uniform", 0.0 <= self.explore_uniform <= 1.0, "must be a share in [0, 1] (0: off)"),
            ("rule_start_actions", rule_start_problem is None,
             f"{rule_start_problem}: write comma-separated action names, each at most once, a constant one as NAME=VALUE "
             "(e.g. battery,heat_pump=0)"),
            ("rule_start_episodes", self.rule_start_episodes >= 0
             and (self.rule_start_episodes > 0) == bool(self.rule_start_action_names),
             "must be >= 0, and > 0 exactly when rule_start_actions names the actions the rule plays (e.g. "
             "rule_start_actions=battery rule_start_episodes=100; on the command line `--set rule_start=off` turns it "
             "off with everything that needs it)"),
            ("rule_start_critic_episodes", self.rule_start_critic_episodes >= 0
             and (self.rule_start_critic_episodes == 0 or self.rule_start_episodes > 0),
             f"must be >= 0, and > 0 only with a rule start (rule_start_actions, rule_start_episodes); {rule_start_off}"),
            ("rule_anchor_weight", self.rule_anchor_weight >= 0.0
             and (self.rule_anchor_weight == 0.0 or self.rule_start_episodes > 0),
             "must be >= 0, and > 0 only with a rule start (rule_start_actions, rule_start_episodes): it pulls the "
             f"actors toward their fit to the rule; {rule_start_off}"),
            ("lr_final_factor", 0.0 < self.lr_final_factor <= 1.0, "must be in (0, 1] (1: constant learning rates)"),
            ("hidden_sizes", all(h >= 1 for h in self.hidden_sizes), "must be positive layer widths, e.g. 64,64"),
            ("keep_best_per_group", self.keep_best or not self.keep_best_per_group, "needs keep_best = true"),
            ("keep_best_from", 0.0 <= self.keep_best_from <= 1.0 and (self.keep_best or self.keep_best_from == 0.0),
             "must be a share of the training in [0, 1] (0.5: only the second half's snapshots compete), and > 0 only "
             "with keep_best = true"),
            ("selection_best_response", self.selection_best_response >= 0.0
             and (self.keep_best or self.selection_best_response == 0.0),
             "must be >= 0 (the weight of the best response's gain in the selection score; 1: EUR for EUR), and > 0 "
             "only with keep_best = true (the Stackelberg design weighs it: with --set keep_best=false pass --set "
             "selection_best_response=0 too)"),
            ("selection_weeks", selection_problem is None,
             f"is not a list of training or evaluation weeks: {selection_problem}"),
        ):
            value = getattr(self, name)
            finite = all(math.isfinite(v) for v in (value if isinstance(value, tuple) else (value,)) if not isinstance(v, str))
            if not (finite and ok):
                raise ValueError(f"hyperparameter {name} = {value!r} {rule}")

    def _selection_week_problem(self) -> str | None:
        """What is wrong with `selection_weeks` (None: nothing)."""
        try:
            self.selection_week_numbers()
        except ValueError as e:
            return str(e)
        return None

    def selection_week_numbers(self) -> list[int]:
        """The absolute weeks of `selection_weeks`, in order, each once: a bad spec, a test week or none at all is
        a ValueError naming it."""
        from model import dataset

        specs = [s.strip() for s in str(self.selection_weeks).split(",") if s.strip()]
        if not specs:
            raise ValueError("no week given; e.g. \"eval:1\" or \"eval:1,train:23\"")
        test, weeks = set(dataset.week_split().test), []
        for spec in specs:
            for week in dataset.resolve_week(spec):
                if week in test:
                    raise ValueError(f"{spec!r} is (or holds) test week {week}: selecting a snapshot on a test week "
                                     "would flatter its test scores; use training or evaluation weeks")
                if week not in weeks:
                    weeks.append(week)
        return weeks

    def sigmoid_actor(self, stage: str) -> bool:
        """Whether the actors of `stage` ("primary" or "secondary") squash with a sigmoid (else
        inverted gradients): the one place that reads `actor_output`."""
        return self.actor_output == "sigmoid" or (self.actor_output == "sigmoid-primary" and stage == "primary")

    @property
    def requested_action_names(self) -> tuple[str, ...]:
        """The action components named in `requested_actions` (stored as requested, not as executed)."""
        return tuple(n.strip() for n in self.requested_actions.split(",") if n.strip())

    @property
    def counterfactual_action_names(self) -> tuple[str, ...]:
        """The action components named in `counterfactual_actions` (empty: the variants draw every component)."""
        return tuple(n.strip() for n in self.counterfactual_actions.split(",") if n.strip())

    def _rule_start_items(self) -> list[tuple[str, str | None]]:
        """`rule_start_actions` as (name, constant text or None), one per non-empty comma-separated item."""
        items = [item.partition("=") for item in self.rule_start_actions.split(",") if item.strip()]
        return [(name.strip(), value.strip() if sep else None) for name, sep, value in items]

    @property
    def rule_start_action_names(self) -> tuple[str, ...]:
        """The action components named in `rule_start_actions` (played by the rule, or at a constant, at the start of
        training)."""
        return tuple(name for name, _ in self._rule_start_items())

    @property
    def rule_start_constants(self) -> dict[str, float]:
        """The components of `rule_start_actions` written NAME=VALUE: played at that constant raw action, not the
        rule's."""
        return {name: float(value) for name, value in self._rule_start_items() if value is not None}

    def _rule_start_actions_problem(self) -> str | None:
        """What is wrong with `rule_start_actions` (None: nothing): an empty name, a name twice, a constant that is
        not a finite number."""
        names = self.rule_start_action_names
        if any(not n for n in names) or len(set(names)) != len(names):
            return "names an action twice or an empty one"
        for name, value in self._rule_start_items():
            if value is not None:
                try:
                    ok = math.isfinite(float(value))
                except ValueError:
                    ok = False
                if not ok:
                    return f"gives {name} the constant {value!r}, which is not a finite number"
        return None

    @property
    def lr_decay(self) -> float:
        """Factor that multiplies both learning rates after each episode (`lr_final_factor` at the end)."""
        return self.lr_final_factor ** (1.0 / max(self.episodes, 1))

    @property
    def noise_decay(self) -> float:
        """Factor that multiplies sigma after each episode (paper: decayed by a factor per episode)."""
        return (self.noise_sigma_final / self.noise_sigma0) ** (1.0 / max(self.episodes, 1))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "HyperParams":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {sorted(unknown)}; valid: {sorted(names)}")
        d = dict(d)
        d.setdefault("actor_output", "sigmoid")  # metadata written before the field existed
        if "hidden_sizes" in d:
            d["hidden_sizes"] = tuple(int(x) for x in d["hidden_sizes"])
        return cls(**d)

    def with_overrides(self, pairs: list[str] | None) -> "HyperParams":
        """Apply `name=value` strings (from the command line); a bad name or value is a named error. A shorthand
        (`SHORTHANDS`, e.g. `rule_start=off`) stands for the settings it names, applied where it appears."""
        out = self.to_dict()
        for pair in expand_shorthands(pairs or []):
            name, sep, value = pair.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or name not in out:
                raise ValueError(f"--set {pair!r}: use NAME=VALUE with NAME one of {sorted(out)}, or a shorthand: "
                                 f"{', '.join(f'{k}={v}' for k, v in SHORTHANDS)}")
            current = out[name]
            try:
                if isinstance(current, list):
                    out[name] = [int(x) for x in value.split(",")]
                elif isinstance(current, str):
                    out[name] = value
                elif isinstance(current, bool):
                    if value.lower() not in ("true", "false", "1", "0"):
                        raise ValueError("not a truth value")
                    out[name] = value.lower() in ("true", "1")
                elif isinstance(current, int):
                    number = float(value)
                    if not number.is_integer():
                        raise ValueError("not a whole number")
                    out[name] = int(number)
                else:
                    out[name] = float(value)
            except ValueError:
                kind = ("comma-separated integers" if isinstance(current, list) else
                        "bool (true/false)" if isinstance(current, bool) else type(current).__name__)
                raise ValueError(f"--set {pair!r}: {name} must be {'an' if kind == 'int' else 'a'} {kind} "
                                 f"(its default is {current!r})") from None
        return HyperParams.from_dict(out)


#: `--set` shorthands: one NAME=VALUE standing for several settings that only make sense together. `rule_start=off`
#: turns a design's rule start off with everything that needs it (the hold and the anchor, which refuse to run
#: without a rule start)
SHORTHANDS = MappingProxyType({
    ("rule_start", "off"): ("rule_start_actions=", "rule_start_episodes=0", "rule_start_critic_episodes=0",
                            "rule_anchor_weight=0"),
})


def expand_shorthands(pairs: list[str]) -> list[str]:
    """`--set` pairs with each shorthand replaced by the pairs it stands for, in place."""
    expanded = []
    for pair in pairs:
        name, sep, value = (part.strip() for part in pair.partition("="))
        shorthand = SHORTHANDS.get((name, value.lower()))
        if shorthand is None and any(name == known for known, _ in SHORTHANDS):
            values = [v for known, v in SHORTHANDS if known == name]
            raise ValueError(f"--set {pair!r}: {name} is a shorthand that takes {' or '.join(values)} (to keep "
                             "the design's setting, leave it out)")
        expanded.extend(shorthand if shorthand is not None else [pair])
    return expanded


#: Hyperparameters the paper does not give (its extracted text lost them): shown in every config.
RECONSTRUCTED = ("buffer_size", "lr_actor", "lr_critic", "noise_sigma_final", "hidden_sizes", "reward_scale", "actor_output", "actor_reg",
                 "per_agent_batches", "lr_final_factor", "action_search", "action_search_weight", "requested_actions", "explore_uniform", "actor_z_max",
                 "mixed_levels", "mixed_temperature", "mixed_temperature_relative", "counterfactual_samples", "counterfactual_households", "counterfactual_actions",
                 "twin_critics", "target_noise", "policy_delay", "n_step", "exploring_starts", "rule_start_actions", "rule_start_episodes",
                 "rule_start_critic_episodes", "rule_anchor_weight", "keep_best",
                 "selection_weeks", "keep_best_from", "selection_best_response", "keep_best_per_group")
