"""The torch graph encoder: CGCNN-style convolutions pooled to one embedding per structure."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import global_mean_pool

from ._atom_features import MAX_Z, element_feature_table
from ._conv import CrystalGraphConv
from ._encoder_kinds import register_encoder
from ._graphs import GraphSettings, gaussian_expansion

# CrystalGraphEncoder's parameters besides the graphs' radius and step: GNNGPRegressor's
# parameters of the same names build a new encoder
ARCHITECTURE = ("hidden_channels", "n_conv", "embedding_dim", "atom_features")


@register_encoder
class CrystalGraphEncoder(nn.Module):
    r"""CGCNN-style encoder (Xie and Grossman, PRL 120, 145301, 2018; arXiv:1710.10324).

    Atoms start from element features (a fixed chemistry table, or a learned embedding by
    atomic number), pass ``n_conv`` crystal graph convolutions

    .. math::
        x_i' = x_i + \mathrm{BN}\big(\mathrm{mean}_{j \in N(i)}\, \sigma(z_{ij} W_f + b_f)
        \odot g(z_{ij} W_s + b_s)\big),
        \quad z_{ij} = [x_i, x_j, e_{ij}]

    (``CrystalGraphConv``: PyG's ``CGConv`` with less work per edge; :math:`e_{ij}` the
    Gaussian expansion of the distance), are averaged
    per structure and mapped to an ``embedding_dim`` embedding, on which a linear head
    predicts the (standardised) target while the encoder is trained.

    Shapes: ``z`` (N,), ``edge_index`` (2, E), ``edge_dist`` (E,), ``batch`` (N,) ->
    embeddings (B, embedding_dim), predictions (B,).
    """

    kind = "crystal_graph"  # what model files record (see register_encoder)

    def __init__(
        self,
        *,
        radius: float,
        gaussian_step: float,
        hidden_channels: int = 64,
        n_conv: int = 3,
        embedding_dim: int = 32,
        atom_features: str = "properties",
    ):
        super().__init__()
        self.config = {
            "radius": radius,
            "gaussian_step": gaussian_step,
            "hidden_channels": hidden_channels,
            "n_conv": n_conv,
            "embedding_dim": embedding_dim,
            "atom_features": atom_features,
        }  # what save() writes, so that load() rebuilds the same architecture
        self.radius = radius
        self.gaussian_step = gaussian_step
        n_gaussians = len(torch.arange(0.0, radius + gaussian_step / 2, gaussian_step))
        if atom_features == "properties":
            table = torch.as_tensor(element_feature_table())
            self.register_buffer("element_table", table)
            self.atom_input = nn.Linear(table.shape[1], hidden_channels)
        else:
            self.element_table = None
            self.atom_input = nn.Embedding(MAX_Z + 1, hidden_channels)
        self.convs = nn.ModuleList(
            CrystalGraphConv(hidden_channels, n_gaussians) for _ in range(n_conv)
        )
        self.readout = nn.Sequential(
            nn.Linear(hidden_channels, hidden_channels),
            nn.Softplus(),
            nn.Linear(hidden_channels, embedding_dim),
            nn.Softplus(),
        )
        self.head = nn.Linear(embedding_dim, 1)

    @classmethod
    def for_graphs(cls, settings: GraphSettings, **architecture) -> CrystalGraphEncoder:
        """A new encoder that reads graphs built with ``settings`` (their radius and step)."""
        return cls(radius=settings.radius, gaussian_step=settings.gaussian_step, **architecture)

    def check_graph_settings(self, settings: GraphSettings) -> None:
        """Refuse graphs whose distances this encoder would expand on another grid."""
        if (self.radius, self.gaussian_step) != (settings.radius, settings.gaussian_step):
            raise ValueError(
                f"This CrystalGraphEncoder reads graphs with radius {self.radius} and Gaussian "
                f"step {self.gaussian_step}, but these graphs were built with {settings}. Build "
                "them with a CrystalGraphTransformer of the same radius and step."
            )

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def embed(self, batch) -> torch.Tensor:
        """One embedding per graph in the batch."""
        if self.element_table is not None:
            x = self.atom_input(self.element_table[batch.z])
        else:
            x = self.atom_input(batch.z)
        edge_attr = gaussian_expansion(batch.edge_dist, self.radius, self.gaussian_step)
        for conv in self.convs:
            x = nn.functional.softplus(conv(x, batch.edge_index, edge_attr))
        return self.readout(global_mean_pool(x, batch.batch, size=batch.num_graphs))

    def forward(self, batch) -> torch.Tensor:
        return self.head(self.embed(batch)).squeeze(-1)
