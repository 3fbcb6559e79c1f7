"""Networks with a leading agent axis: N independent MLPs evaluated in one call.

A group of agents that does not share parameters keeps one stacked module whose weights have shape
(N, in, out) (`torch.baddbmm`: one forward per group per hour instead of N); a group that shares
parameters is the same module with N = 1, applied to all its members' inputs as one batch.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class StackedLinear(nn.Module):
    """N independent linear layers: x (N, batch, in) -> (N, batch, out). Init as `nn.Linear`."""

    def __init__(self, n_agents: int, in_features: int, out_features: int, generator: torch.Generator | None = None):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(n_agents, in_features, out_features).uniform_(-bound, bound, generator=generator))
        self.bias = nn.Parameter(torch.empty(n_agents, 1, out_features).uniform_(-bound, bound, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class StackedMLP(nn.Module):
    """N independent MLPs (ReLU hidden layers) evaluated in one call: (N, batch, in) -> (N, batch, out)."""

    def __init__(self, n_agents: int, sizes: list[int], squash: bool, generator: torch.Generator | None = None):
        super().__init__()
        self.layers = nn.ModuleList(StackedLinear(n_agents, a, b, generator) for a, b in zip(sizes[:-1], sizes[1:]))
        self.squash = squash  # sigmoid output in [0, 1] (actors)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The output before the squashing sigmoid."""
        *hidden, last = [(layer.weight, layer.bias) for layer in self.layers]
        for w, b in hidden:
            x = torch.relu(torch.baddbmm(b, x, w))
        return torch.baddbmm(last[1], x, last[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.logits(x)
        return torch.sigmoid(z) if self.squash else z


def soft_update(target: nn.Module, source: nn.Module, tau: float):
    """theta' <- tau * theta + (1 - tau) * theta'  (paper (26)-(27))."""
    soft_update_params(list(target.parameters()), list(source.parameters()), tau)


@torch.no_grad()
def soft_update_params(target: list[torch.Tensor], source: list[torch.Tensor], tau: float):
    """`soft_update` on parameter lists (a learner keeps its lists, not asking the modules every update)."""
    torch._foreach_lerp_(target, source, tau)
