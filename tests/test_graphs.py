import copy
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from sklearn.pipeline import make_pipeline
from torch_geometric.data import Data

import skmatgp._graphs
from skmatgp import CrystalGraphEncoder, CrystalGraphTransformer, GNNGPRegressor
from skmatgp._graph_batches import collate
from skmatgp._graphs import gaussian_expansion

NUMBA = skmatgp._graphs._compiled_search is not None


@pytest.fixture(
    params=["pymatgen", pytest.param("compiled", marks=pytest.mark.skipif(not NUMBA, reason="needs numba"))]
)
def search(request, monkeypatch):
    """Run a test with each neighbour search: pymatgen's pair list, and the numba kernel."""
    if request.param == "pymatgen":
        monkeypatch.setattr(skmatgp._graphs, "_compiled_search", None)
    return request.param


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


def slab_with_adatom():
    """A rock-salt slab and an atom above it whose one neighbour is 7.68 Å away: dense on
    average (the first search reaches 7.25 Å), so the first search cannot settle that atom
    and the full-radius search must run, whatever k."""
    slab = nacl()
    slab = Structure(
        Lattice.tetragonal(5.64, 20.0), slab.species, slab.cart_coords, coords_are_cartesian=True
    )
    slab.make_supercell([2, 2, 1])
    slab.append("Na", [0.0, 0.0, 10.5], coords_are_cartesian=True)
    return slab


def not_periodic_along_c():
    """Rock salt repeated in a and b only: no images along c."""
    slab = nacl()
    lattice = Lattice(slab.lattice.matrix, pbc=(True, True, False))
    return Structure(lattice, slab.species, slab.frac_coords)


def k_nearest_by_sorting(structure, radius, k):
    """The rule, written plainly: all pairs within the radius from pymatgen's public
    ``get_neighbor_list``, sorted by centre, float32 distance, neighbour index; k per centre."""
    centers, neighbors, _, distances = structure.get_neighbor_list(radius)
    pairs = sorted(
        (int(c), float(np.float32(d)), int(n))
        for c, n, d in zip(centers, neighbors, distances)
        if c != n or d > 1e-8
    )
    taken = dict.fromkeys(range(len(structure)), 0)
    kept = []
    for pair in pairs:
        if taken[pair[0]] < k:
            kept.append(pair)
            taken[pair[0]] += 1
    return kept, pairs


@pytest.mark.parametrize("k", [1, 4, 12, 40])
def test_edges_are_each_atoms_k_nearest_ties_to_lower_index(small, k, search, monkeypatch):
    """Each atom's k nearest within the radius, ordered by distance; equal distances
    (common in symmetric crystals) go to the lower neighbour index. The same whether the
    first, smaller search settles a structure or the full-radius search has to run."""
    first_radii = []
    first_radius = skmatgp._graphs._first_radius
    monkeypatch.setattr(
        skmatgp._graphs, "_first_radius", lambda *a: first_radii.append(first_radius(*a)) or first_radii[-1]
    )
    structures = [nacl(), slab_with_adatom(), not_periodic_along_c(), *small[0][:30]]
    graphs = CrystalGraphTransformer(max_num_neighbors=k).fit_transform(structures)
    assert len(first_radii) == len(structures)
    ties_at_cut = 0
    beyond_first_search = 0
    for structure, graph, first in zip(structures, graphs, first_radii):
        beyond_first_search += bool((graph.edge_dist >= first).any())
        kept, pairs = k_nearest_by_sorting(structure, 8.0, k)
        centre, distance, neighbour = (np.array(column) for column in zip(*kept))
        assert np.array_equal(graph.edge_index[1].numpy(), centre)
        assert np.array_equal(graph.edge_index[0].numpy(), neighbour)
        assert np.allclose(graph.edge_dist.numpy(), distance, atol=1e-6)
        for atom in range(len(structure)):
            mine = [p[1] for p in pairs if p[0] == atom]
            ties_at_cut += len(mine) > k and mine[k - 1] == mine[k]
    assert ties_at_cut > 0  # the tie rule was exercised
    assert any(first < 8.0 for first in first_radii)
    if k <= 12:  # at k = 40 the first search reaches 8 Å around the slab's adatom already
        assert beyond_first_search > 0  # the full-radius search found edges the first could not


def test_a_tie_just_outside_the_first_search_sends_it_to_the_full_search(search, monkeypatch):
    """Atom 0 is 3.0000001 Å from the centre (atom 1), atom 2 is 3.0 Å from it: equal as
    float32, so atom 0 (lower index) is the centre's nearest. A first search reaching
    3.00000005 Å sees only atom 2; every atom has a neighbour inside it, so only the
    distance margin can tell that the answer is not settled."""
    xs = [13.0000001, 10.0, 7.0, 14.0000001, 6.0]  # atoms 3 and 4: partners of atoms 0 and 2
    line = Structure(Lattice.cubic(60.0), ["Na"] * 5, [[x, 30, 30] for x in xs], coords_are_cartesian=True)
    monkeypatch.setattr(skmatgp._graphs, "_first_radius", lambda *args: 3.00000005)
    (graph,) = CrystalGraphTransformer(max_num_neighbors=1).fit_transform([line])
    assert graph.edge_index[0, graph.edge_index[1] == 1].tolist() == [0]
    kept, _ = k_nearest_by_sorting(line, 8.0, 1)
    assert graph.edge_index[0].tolist() == [n for _, _, n in kept]


def test_large_structures_sort_the_same_way(small, monkeypatch):
    """Above PACKED_KEY_MAX_ATOMS atoms the pymatgen path lexsorts the pairs: same graphs."""
    monkeypatch.setattr(skmatgp._graphs, "_compiled_search", None)
    structures = [nacl(), slab_with_adatom(), *small[0][:30]]
    packed = CrystalGraphTransformer().fit_transform(structures)
    monkeypatch.setattr(skmatgp._graphs, "PACKED_KEY_MAX_ATOMS", 0)
    for a, b in zip(packed, CrystalGraphTransformer().fit_transform(structures)):
        assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.edge_dist, b.edge_dist)


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


@pytest.mark.slow  # joblib worker processes
def test_parallel_graphs_are_the_same(small):
    serial = CrystalGraphTransformer().fit_transform(small[0][:12])
    parallel = CrystalGraphTransformer(n_jobs=2).fit_transform(small[0][:12])
    for a, b in zip(serial, parallel):
        assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.edge_dist, b.edge_dist)


def test_graphs_are_the_data_pyg_builds_from_keywords(small):
    """_as_data fills PyG's storage directly (a speed-up): each graph must be the Data that the
    public keyword constructor builds from the same arrays, and validate, copy, pickle and
    batch (as the regressor does, ``collate``) like it. A lone atom gives a graph without edges."""
    structures = [*small[0][:6], Structure(Lattice.cubic(20.0), ["Fe"], [[0, 0, 0]])]
    graphs = CrystalGraphTransformer().fit_transform(structures)
    public = []
    for structure in structures:
        z, frac, lattice, pbc = skmatgp._graphs._read_structure(structure, 0)
        edge_index, distances = skmatgp._graphs._nearest_neighbors(frac, lattice, pbc, 8.0, 12)
        public.append(
            Data(
                edge_index=torch.from_numpy(edge_index),
                z=torch.from_numpy(z),
                edge_dist=torch.from_numpy(distances),
                num_nodes=len(z),
                graph_settings=graphs[0].graph_settings,
            )
        )
    assert public[-1].num_edges == 0
    for graph, reference in zip(graphs, public):
        graph.validate(raise_on_error=True)
        assert graph.keys() == reference.keys() and graph.num_nodes == reference.num_nodes
        assert all(torch.equal(graph[key], reference[key]) for key in ("z", "edge_index", "edge_dist"))
        assert graph.graph_settings == reference.graph_settings and repr(graph) == repr(reference)
        for twin in (
            pickle.loads(pickle.dumps(graph)),
            copy.copy(graph),
            copy.deepcopy(graph),
            graph.clone(),
        ):
            assert repr(twin) == repr(reference) and torch.equal(twin.edge_dist, reference.edge_dist)
    ours, theirs = collate(graphs, "cpu"), collate(public, "cpu")
    assert ours.keys() == theirs.keys() and ours.num_graphs == theirs.num_graphs == len(structures)
    assert all(
        torch.equal(ours[key], theirs[key]) for key in ("z", "edge_index", "edge_dist", "batch", "ptr")
    )


def test_isolated_atom_gets_no_edges_and_encodes(caplog):
    lonely = Structure(Lattice.cubic(20.0), ["Fe"], [[0, 0, 0]])
    with caplog.at_level(logging.WARNING):
        graphs = CrystalGraphTransformer(radius=8.0).fit_transform([lonely, nacl()])
    assert graphs[0].edge_index.shape[1] == 0
    assert "index 0 has 1 atom(s)" in caplog.text and "no neighbour" in caplog.text
    assert "index 1" not in caplog.text
    encoder = CrystalGraphEncoder(radius=8.0, gaussian_step=0.2, hidden_channels=8, embedding_dim=4)
    encoder.eval()
    out = encoder.embed(collate(graphs, "cpu"))
    assert out.shape == (2, 4) and torch.isfinite(out).all()


@pytest.mark.slow  # worker processes that import torch
def test_isolated_atoms_are_reported_by_their_index_in_the_input(caplog):
    """Graphs are built in chunks of 256, in other processes with n_jobs=2: the message still
    names the structure's index in the whole input, and the count of its isolated atoms."""
    two_lonely = Structure(Lattice.cubic(20.0), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with caplog.at_level(logging.WARNING):
        CrystalGraphTransformer(n_jobs=2).fit_transform([nacl()] * 300 + [two_lonely])
    assert "Structure at index 300 has 2 atom(s) with no neighbour" in caplog.text
    assert caplog.text.count("no neighbour") == 1


def test_refuses_disordered_and_unknown_elements():
    disordered = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    with pytest.raises(ValueError, match="index 1 .*disordered"):
        CrystalGraphTransformer().fit_transform([nacl(), disordered])
    vacancy = Structure(Lattice.cubic(4.0), [{"Fe": 0.5}], [[0, 0, 0]])
    with pytest.raises(ValueError, match="index 0 .*disordered"):
        CrystalGraphTransformer().fit_transform([vacancy])
    heavy = Structure(Lattice.cubic(4.0), ["Lr"], [[0, 0, 0]])
    with pytest.raises(ValueError, match="index 0 contains Lr"):
        CrystalGraphTransformer().fit_transform([heavy])


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_on_error_warn_leaves_none_where_a_structure_has_no_graph(elastic, n_jobs):
    structures = list(elastic.structures[:300])
    disordered = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    heavy = Structure(Lattice.cubic(4.0), ["Lr"], [[0, 0, 0]])
    structures[3], structures[280] = disordered, heavy  # 280: in the second chunk of 256
    with pytest.warns(UserWarning, match=r"2 of the 300 structures have no graph .*\[3, 280\].*disordered"):
        graphs = CrystalGraphTransformer(on_error="warn", n_jobs=n_jobs).fit_transform(structures)
    assert graphs[3] is None and graphs[280] is None
    kept = [i for i in range(300) if i not in (3, 280)]
    alone = CrystalGraphTransformer().fit_transform([structures[i] for i in kept])
    for graph, reference in zip(graphs[kept], alone):
        assert torch.equal(graph.edge_index, reference.edge_index) and torch.equal(graph.z, reference.z)
    with pytest.raises(TypeError, match="index 3 is a NoneType.*drop those items"):
        GNNGPRegressor().fit(graphs, np.zeros(300))
    with pytest.raises(ValueError, match="on_error"):
        CrystalGraphTransformer(on_error="skip").fit(structures)


def test_the_on_error_warning_names_the_callers_line():
    """Not scikit-learn's set_output wrapper, through which transform and a Pipeline call."""
    structures = [nacl(), Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])]
    transformer = CrystalGraphTransformer(on_error="warn")
    for build in (
        transformer.transform,
        transformer.fit_transform,
        make_pipeline(CrystalGraphTransformer(on_error="warn"), "passthrough").fit_transform,
    ):
        with pytest.warns(UserWarning, match="no graph") as caught:
            build(structures)
        assert [Path(w.filename).name for w in caught] == [Path(__file__).name]


def test_a_transformer_pickled_before_on_error_still_works():
    state = CrystalGraphTransformer(radius=6.0).__getstate__()
    del state["on_error"]  # what an older pickle holds
    old = CrystalGraphTransformer.__new__(CrystalGraphTransformer)
    old.__setstate__(state)
    assert old.on_error == "raise" and old.radius == 6.0
    assert len(old.transform([nacl()])) == 1


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
