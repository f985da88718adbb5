"""The crystal graph convolution, written so that the per-edge work is small.

CGCNN's gate is a linear map of ``z_ij = [x_i, x_j, e_ij]``. Rather than building ``z`` for
every edge (E x (2F + D)) and multiplying it by the weights, the two atom parts are projected
once per atom (N x 4F) and gathered per edge, so only the edge part ``e_ij W_e`` is a per-edge
product. Same function and same parameters as PyG's ``CGConv(aggr="mean", batch_norm=True)``
(``lin_f``, ``lin_s``, ``bn``), so its weights load into either.
"""

from __future__ import annotations

import torch
from torch import nn


class CrystalGraphConv(nn.Module):
    r""":math:`x_i' = x_i + \mathrm{BN}\big(\mathrm{mean}_{j \in N(i)}\, \sigma(z_{ij} W_f + b_f)
    \odot \mathrm{softplus}(z_{ij} W_s + b_s)\big)` with :math:`z_{ij} = [x_i, x_j, e_{ij}]`.

    Shapes: ``x`` (N, channels), ``edge_index`` (2, E) as (source j, target i),
    ``edge_attr`` (E, dim) -> (N, channels).
    """

    def __init__(self, channels: int, dim: int):
        super().__init__()
        self.channels = channels
        self.lin_f = nn.Linear(2 * channels + dim, channels)
        self.lin_s = nn.Linear(2 * channels + dim, channels)
        self.bn = nn.BatchNorm1d(channels)

    def reset_parameters(self) -> None:
        self.lin_f.reset_parameters()
        self.lin_s.reset_parameters()
        self.bn.reset_parameters()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        c = self.channels
        weight = torch.cat([self.lin_f.weight, self.lin_s.weight])  # (2c, 2c + dim): rows f then s
        bias = torch.cat([self.lin_f.bias, self.lin_s.bias])
        # one product per atom for the target (x_i) and source (x_j) blocks of z
        per_atom = x @ torch.cat([weight[:, :c], weight[:, c : 2 * c]]).T  # (N, 4c)
        source, target = edge_index
        gates = torch.addmm(bias, edge_attr, weight[:, 2 * c :].T)  # (E, 2c)
        # index_select, not per_atom[target, :2c]: its backward is deterministic on CPU
        gates = (
            gates
            + per_atom[:, : 2 * c].index_select(0, target)
            + per_atom[:, 2 * c :].index_select(0, source)
        )
        filter_part, core_part = gates.chunk(2, dim=1)
        messages = filter_part.sigmoid() * nn.functional.softplus(core_part)
        summed = torch.zeros_like(x).index_add_(0, target, messages)
        in_degree = torch.bincount(target, minlength=x.shape[0]).clamp_(min=1).unsqueeze(1)
        return x + self.bn(summed / in_degree)
