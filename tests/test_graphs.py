import logging

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from skmatgp import CrystalGraphEncoder, CrystalGraphTransformer
from skmatgp._graphs import _nearest, _neighbor_list, gaussian_expansion
from skmatgp._regressor import _collate


def nacl():
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_graph_matches_brute_force_neighbours(small):
    structure = small[0][20]
    (graph,) = CrystalGraphTransformer().fit_transform([structure])
    assert graph.num_nodes == len(structure)
    assert torch.equal(graph.z, torch.tensor([site.specie.Z for site in structure]))
    for i, neighbours in enumerate(structure.get_all_neighbors(8.0)):
        expected = np.sort([n.nn_distance for n in neighbours])[:12]
        mine = np.sort(graph.edge_dist[graph.edge_index[1] == i].numpy())
        assert np.allclose(mine, expected, atol=1e-5)


@pytest.mark.parametrize("k", [1, 4, 12, 40])
def test_nearest_is_a_stable_sort_cut_at_k(small, k):
    """Ties at the k-th distance (common in symmetric crystals) keep the search's order."""
    rng = np.random.default_rng(0)
    ties_at_cut = 0
    for structure in [nacl(), *small[0][:40]]:
        centers, _, distances = _neighbor_list(structure, 8.0)
        for atom in range(len(structure)):
            nearest = np.sort(distances[centers == atom])
            ties_at_cut += len(nearest) > k and nearest[k - 1] == nearest[k]
        for order in (np.arange(len(centers)), rng.permutation(len(centers))):
            c, d = centers[order], distances[order]
            by_centre_then_distance = np.lexsort((d, c))
            sorted_c = c[by_centre_then_distance]
            rank = np.arange(len(c)) - np.searchsorted(sorted_c, sorted_c)
            expected = by_centre_then_distance[rank < k]
            assert np.array_equal(_nearest(c, d, len(structure), k), expected)
    assert ties_at_cut > 0  # the case the rule is for was exercised


def test_nacl_nearest_neighbours():
    (graph,) = CrystalGraphTransformer(radius=3.0).fit_transform([nacl()])
    # rock salt: 6 Cl at a/2 = 2.82 Å around each Na, nothing else within 3 Å
    assert graph.edge_index.shape[1] == 8 * 6
    assert np.allclose(graph.edge_dist.numpy(), 2.82, atol=1e-3)
    centres, sources = graph.edge_index[1], graph.edge_index[0]
    assert torch.all(graph.z[centres] != graph.z[sources])


def test_cap_and_radius(small):
    graphs = CrystalGraphTransformer(radius=5.0, max_num_neighbors=4).fit_transform(small[0][:10])
    for graph in graphs:
        counts = torch.bincount(graph.edge_index[1], minlength=graph.num_nodes)
        assert counts.max() <= 4
        assert graph.edge_dist.max() <= 5.0


def test_parallel_graphs_are_the_same(small):
    serial = CrystalGraphTransformer().fit_transform(small[0][:12])
    parallel = CrystalGraphTransformer(n_jobs=2).fit_transform(small[0][:12])
    for a, b in zip(serial, parallel):
        assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.edge_dist, b.edge_dist)


def test_isolated_atom_gets_no_edges_and_encodes(caplog):
    lonely = Structure(Lattice.cubic(20.0), ["Fe"], [[0, 0, 0]])
    with caplog.at_level(logging.WARNING):
        graphs = CrystalGraphTransformer(radius=8.0).fit_transform([lonely, nacl()])
    assert graphs[0].edge_index.shape[1] == 0
    assert "index 0" in caplog.text and "no neighbour" in caplog.text
    encoder = CrystalGraphEncoder(radius=8.0, gaussian_step=0.2, hidden_channels=8, embedding_dim=4)
    encoder.eval()
    out = encoder.embed(_collate(graphs, "cpu"))
    assert out.shape == (2, 4) and torch.isfinite(out).all()


def test_refuses_disordered_and_unknown_elements():
    disordered = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    with pytest.raises(ValueError, match="index 1 .*disordered"):
        CrystalGraphTransformer().fit_transform([nacl(), disordered])
    heavy = Structure(Lattice.cubic(4.0), ["Lr"], [[0, 0, 0]])
    with pytest.raises(ValueError, match="index 0 contains Lr"):
        CrystalGraphTransformer().fit_transform([heavy])


def test_bad_parameters_are_refused_at_fit():
    with pytest.raises(ValueError, match="radius"):
        CrystalGraphTransformer(radius=-1).fit([nacl()])
    with pytest.raises(ValueError, match="max_num_neighbors"):
        CrystalGraphTransformer(max_num_neighbors=0).fit([nacl()])


def test_gaussian_expansion_defaults():
    features = gaussian_expansion(torch.tensor([0.0, 4.0, 8.0]), 8.0, 0.2)
    assert features.shape == (3, 41)
    assert features[1].argmax() == 20 and features[1].max() == pytest.approx(1.0)


def test_refuses_dummy_species():
    from pymatgen.core import DummySpecies

    dummy = Structure(Lattice.cubic(4.0), [DummySpecies("X")], [[0, 0, 0]])
    with pytest.raises(ValueError, match="index 0 contains X"):
        CrystalGraphTransformer().fit_transform([dummy])
