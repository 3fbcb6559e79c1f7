"""MADDPG-family learners built from parts, independent of any market.

- `features`: a role's observation features -> network inputs (joint, per actor, per member);
- `networks`: stacked MLPs with a leading agent axis (N = 1: parameters shared by a group);
- `buffers`: joint (small group) and per-member (large group) replay buffers;
- `groups`: a group's networks, buffer and update step (`JointGroup`: MADDPG over joint
  observations and actions; `MemberGroup`: parameter sharing and collective or own critics);
- `team`: groups on roles and rows, acting for the model and updated on a schedule;
- `hmaddpg`: the arbitrage paper's HMADDPG (Algorithm 1) as a team; `builders`: learners by kind;
- `hyperparams`, `checkpoint`: validated hyperparameters; checkpoints that record the learner kind.
"""
