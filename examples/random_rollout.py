"""One week of random bids in the PettingZoo env. Run from the repository root:

    python examples/random_rollout.py
"""

from model.env import parallel_env

env = parallel_env(scenario="one-arb", weeks="test:1")
observations, infos = env.reset(seed=0)
for i, agent in enumerate(env.possible_agents):
    env.action_space(agent).seed(i)  # reproducible random bids
totals = dict.fromkeys(env.possible_agents, 0.0)
steps = 0
while env.agents:  # 168 hours x 2 stages ("lem", then "lfm")
    actions = {agent: env.action_space(agent).sample() for agent in env.agents}
    observations, rewards, terminations, truncations, infos = env.step(actions)
    for agent, reward in rewards.items():
        totals[agent] += reward
    steps += 1
print(f"week {env.model.week}: {steps} steps")
for agent in ("primary_5", "secondary_5", "primary_9", "secondary_9"):
    print(f"{agent:12s} reward {totals[agent]:10.2f} €")
