"""Bad input gets a clear error naming it, never a silent wrong answer (issue 29, points 1 and 3).

Degenerate structures (NaN or infinite coordinates or lattice, a flat cell, overlapping atoms)
are refused where structures enter, with the index and what is wrong; counts (budgets, batch
sizes, n_initial, n_test, n_pool, n_instances and the command line's flags) are checked before
any work, with the argument's name, its value and the range allowed.
"""

import json
import re
import time
import warnings

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from sklearn.pipeline import make_pipeline

import skmatgp._structures
from skmatgp import CrystalGraphTransformer, FoundationFeaturizer, GNNGPRegressor, StructureDescriptors
from skmatgp._structures import (
    MIN_DISTANCE,
    check_structures,
    find_degenerate_structures,
    structure_problem,
)
from skmatgp.active import (
    ActiveLearner,
    Campaign,
    TableOracle,
    batch_entropy_sampling,
    max_entropy_sampling,
    random_sampling,
    run_campaigns,
)
from skmatgp.cli import main
from tests.conftest import TINY


def nacl():
    """Rock salt, conventional cell: 8 atoms (Na 0 to 3, Cl 4 to 7), neighbours 2.82 Å apart."""
    na = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    cl = [[0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]
    return Structure(Lattice.cubic(5.64), ["Na"] * 4 + ["Cl"] * 4, na + cl)


def with_frac(structure, frac):
    return Structure(structure.lattice, structure.species, frac)


def with_matrix(structure, matrix):
    with warnings.catch_warnings():  # pymatgen's angles of a NaN or flat lattice
        warnings.simplefilter("ignore", RuntimeWarning)
        return Structure(Lattice(matrix), structure.species, structure.frac_coords)


def nan_coordinate():
    frac = nacl().frac_coords
    frac[3, 0] = np.nan
    return with_frac(nacl(), frac)


def infinite_coordinate():
    frac = nacl().frac_coords
    frac[1, 2] = np.inf
    return with_frac(nacl(), frac)


def nan_lattice():
    matrix = nacl().lattice.matrix.copy()
    matrix[0, 0] = np.nan
    return with_matrix(nacl(), matrix)


def infinite_lattice():
    matrix = nacl().lattice.matrix.copy()
    matrix[2, 2] = np.inf
    return with_matrix(nacl(), matrix)


def flat_cell():
    """The third lattice vector in the plane of the first two: volume 0."""
    a, b, _ = nacl().lattice.matrix
    return with_matrix(nacl(), [a, b, a + b])


def collapsed_cell():
    """The third lattice vector 10^4 times too short: 0.0179 Å^3 for 8 atoms."""
    matrix = nacl().lattice.matrix.copy()
    matrix[2] *= 1e-4
    return with_matrix(nacl(), matrix)


def overlapping_atoms():
    s = nacl()
    s.replace(5, s[5].species, coords=s[0].coords + [0.1, 0.0, 0.0], coords_are_cartesian=True)
    return s


def duplicated_atom():
    s = nacl()
    s.append(s[2].species, s[2].frac_coords)
    return s


def across_the_boundary():
    """Two atoms 0.3 Å apart through the cell's face, at x = 0.01 and x = 0.98 of a 10 Å cell."""
    return Structure(Lattice.cubic(10.0), ["Na", "Cl"], [[0.01, 0.5, 0.5], [0.98, 0.5, 0.5]])


def own_image():
    """One atom per cell and a lattice vector of 0.3 Å: the atom sits 0.3 Å from its own image."""
    return Structure(Lattice.orthorhombic(0.3, 5.0, 5.0), ["Cu"], [[0, 0, 0]])


def skewed_basis():
    """Rock salt in a very oblique basis (c + 7a - 5b for c) with two atoms 0.2 Å apart: the
    search must look many cells away in this basis, or reduce it first."""
    s = nacl()
    a, b, c = s.lattice.matrix
    lattice = Lattice([a, b, c + 7 * a - 5 * b])
    cart = s.cart_coords
    cart[4] = cart[0] + [0.0, 0.2, 0.0] - 3 * a + 2 * b  # 0.2 Å from atom 0, some cells away
    return Structure(lattice, s.species, cart, coords_are_cartesian=True)


DEGENERATE = {
    "nan-coordinate": (nan_coordinate, r"has NaN or infinite coordinates at site 3"),
    "infinite-coordinate": (infinite_coordinate, r"has NaN or infinite coordinates at site 1"),
    "nan-lattice": (nan_lattice, r"has a lattice with NaN or infinite entries"),
    "infinite-lattice": (infinite_lattice, r"has a lattice with NaN or infinite entries"),
    "flat-cell": (flat_cell, r"has a cell volume of 0 Å\^3 for 8 atoms: zero or near zero"),
    "collapsed-cell": (collapsed_cell, r"has a cell volume of 0.0179 Å\^3 for 8 atoms"),
    "overlapping": (overlapping_atoms, r"has sites 0 and 5 \(Na and Cl\) 0.1 Å apart, closer than the 0.5 Å"),
    "duplicated": (duplicated_atom, r"has sites 2 and 8 \(Na and Na\) 0 Å apart"),
    "across-the-boundary": (across_the_boundary, r"has sites 0 and 1 \(Na and Cl\) 0.3 Å apart"),
    "own-image": (own_image, r"has site 0 \(Cu\) 0.3 Å from its own periodic image"),
    "skewed-basis": (skewed_basis, r"has sites 0 and 4 \(Na and Cl\) 0.2 Å apart"),
}


@pytest.fixture(scope="module")
def good(small):
    """Four real two-site structures from elastic_tensor_2015."""
    return list(small[0][:4])


def pool_of(*items):
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


# ---------------------------------------------------------------- point 1: degenerate structures


@pytest.mark.parametrize("kind", list(DEGENERATE))
def test_check_structures_refuses_a_degenerate_structure_naming_its_index(good, kind):
    make, what = DEGENERATE[kind]
    with pytest.raises(ValueError, match=rf"^Structure at index 2 {what}.*Remove it from the input"):
        check_structures([*good[:2], make(), good[2]])
    with pytest.raises(ValueError, match=rf"^Structure at index 12 {what}"):  # counted in the caller's input
        check_structures([*good[:2], make()], first_index=10)
    assert check_structures([make()], check_geometry=False)[0] is not None  # a caller may skip it instead


def test_several_bad_structures_are_listed_together(good):
    problems = find_degenerate_structures([good[0], flat_cell(), good[1], overlapping_atoms()], first_index=5)
    assert sorted(problems) == [6, 8]
    with pytest.raises(ValueError, match=r"index 1 has a cell volume.*Structure at index 3 has sites"):
        check_structures([good[0], flat_cell(), good[1], overlapping_atoms()])


def test_real_structures_pass_and_quickly(elastic):
    """All 1,181 DFT structures of elastic_tensor_2015 pass (the closest pair in them is far above
    0.5 Å); the check costs tens of microseconds a structure."""
    start = time.perf_counter()
    assert find_degenerate_structures(elastic.structures) == {}
    assert time.perf_counter() - start < 5.0  # about 0.05 s; generous for a loaded machine
    # real short bonds pass: H2 at 0.74 Å, and two atoms just beyond the threshold
    h2 = Structure(Lattice.cubic(6.0), ["H", "H"], [[0, 0, 0], [0.74, 0, 0]], coords_are_cartesian=True)
    near = Structure(
        Lattice.cubic(6.0), ["H", "H"], [[0, 0, 0], [MIN_DISTANCE + 1e-6, 0, 0]], coords_are_cartesian=True
    )
    assert structure_problem(h2) is None and structure_problem(near) is None


def test_large_cells_use_a_tree_and_find_the_same_pair(monkeypatch):
    """A 512-atom supercell goes through the k-d tree: the same pair and distance as all pairs."""
    big = nacl() * (4, 4, 4)
    big.replace(100, big[100].species, coords=big[7].coords + [0.0, 0.0, 0.25], coords_are_cartesian=True)
    assert len(big) > skmatgp._structures._BRUTE_FORCE_ATOMS
    from_tree = structure_problem(big)
    assert "sites 7 and 100" in from_tree and "0.25 Å apart" in from_tree
    monkeypatch.setattr(skmatgp._structures, "_BRUTE_FORCE_ATOMS", 10_000)
    assert structure_problem(big) == from_tree
    assert structure_problem(nacl() * (4, 4, 4)) is None


def test_a_skewed_basis_of_a_sound_crystal_passes():
    s = nacl()
    a, b, c = s.lattice.matrix
    oblique = Structure(
        Lattice([a, b, c + 7 * a - 5 * b]), s.species, s.cart_coords, coords_are_cartesian=True
    )
    assert structure_problem(oblique) is None


@pytest.mark.parametrize("kind", ["nan-coordinate", "flat-cell", "overlapping"])
def test_every_entry_point_refuses_them(good, kind):
    make, what = DEGENERATE[kind]
    items = pool_of(*good[:2], make())
    with pytest.raises(ValueError, match=rf"index 2 {what}"):
        CrystalGraphTransformer().transform(items)
    with pytest.raises(ValueError, match=rf"index 2 {what}"):
        StructureDescriptors().fit_transform(items)
    with pytest.raises(ValueError, match=rf"index 2 {what}"):
        FoundationFeaturizer(model="chgnet").fit(items)  # before any model is loaded


def test_campaign_pools_and_teach_refuse_them(elastic, small):
    X, y = small
    pool = pool_of(*X[:19], overlapping_atoms())
    ids = [f"s{i}" for i in range(20)]
    with pytest.raises(ValueError, match=r"index 19 has sites 0 and 5"):
        Campaign(pool, ids, TableOracle(ids, np.ones(20)), n_initial=5, budget=5)
    learner = ActiveLearner(
        make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY)), X_training=X[:12], y_training=y[:12]
    )
    # teach refits on the training set and the new items: the index counts in that (12 + 1)
    with pytest.raises(ValueError, match=r"index 13 has NaN or infinite coordinates at site 3"):
        learner.teach(pool_of(X[20], nan_coordinate()), np.array([1.0, 2.0]))


# The on_error="warn" paths skip a degenerate structure with a warning naming its index.


def test_graphs_on_error_warn_skip_them_and_leave_the_others_alone(good):
    clean = CrystalGraphTransformer(on_error="warn").transform(pool_of(*good[:3]))
    for kind in ("nan-coordinate", "flat-cell", "overlapping"):
        make, what = DEGENERATE[kind]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            graphs = CrystalGraphTransformer(on_error="warn").transform(pool_of(good[0], make(), *good[1:3]))
        assert any(re.search(rf"indices \[1\]\. Structure at index 1 {what}", str(w.message)) for w in caught)
        assert graphs[1] is None
        for graph, reference in zip(graphs[[0, 2, 3]], clean, strict=True):
            assert graph.edge_index.equal(reference.edge_index) and graph.edge_dist.equal(reference.edge_dist)


def test_foundation_features_on_error_warn_skip_them_and_leave_the_others_alone(good):
    pytest.importorskip("chgnet")
    featurizer = FoundationFeaturizer(model="chgnet", layer=-1, pooling="mean", on_error="warn")
    clean = featurizer.fit_transform(pool_of(*good[:3]))
    bad = pool_of(good[0], nan_coordinate(), good[1], overlapping_atoms(), good[2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = featurizer.fit_transform(bad)
    assert any("indices [1, 3]. Structure at index 1 has NaN" in str(w.message) for w in caught)
    assert np.isnan(rows[[1, 3]]).all()
    assert np.array_equal(rows[[0, 2, 4]], clean)  # bit for bit: one bad item changes nothing else
    with pytest.raises(ValueError, match=r"index 3 has sites 0 and 5.*on_error='warn'"):
        FoundationFeaturizer(model="chgnet").transform(pool_of(*good[:3], overlapping_atoms()))


# ---------------------------------------------------------------- point 3: counts checked up front

BAD_COUNTS = [
    ("n_initial", 2, r"n_initial must be an integer >= 3, got 2\."),
    ("n_initial", 4.5, r"n_initial must be an integer >= 3, got 4\.5\."),
    ("n_initial", True, r"n_initial must be an integer >= 3, got True\."),
    ("budget", 0, r"budget must be an integer >= 1, got 0\."),
    ("budget", -3, r"budget must be an integer >= 1, got -3\."),
    ("budget", 2.5, r"budget must be an integer >= 1, got 2\.5\."),
    ("batch_size", 0, r"batch_size must be an integer >= 1, got 0\."),
    ("batch_size", 2.0, r"batch_size must be an integer >= 1, got 2\.0\."),
    ("batch_size", True, r"batch_size must be an integer >= 1, got True\."),
    ("refit_every", 0, r"refit_every must be None \(never refit\) or an integer >= 1, got 0\."),
    ("refit_every", -5, r"refit_every must be None \(never refit\) or an integer >= 1, got -5\."),
    ("eval_every", 0.5, r"eval_every must be None \(every step\) or an integer >= 1, got 0\.5\."),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_COUNTS)
def test_campaign_checks_its_counts_before_reading_the_pool(name, value, message):
    not_structures = [object()] * 20  # the counts are checked first: this pool is never read
    with pytest.raises(ValueError, match=f"^{message}$"):
        Campaign(
            not_structures, [str(i) for i in range(20)], None, **{"n_initial": 5, "budget": 5, name: value}
        )


def test_campaign_counts_against_the_pool_and_numpy_integers(small):
    X = small[0][:20]
    ids = [f"s{i}" for i in range(20)]
    with pytest.raises(ValueError, match=r"n_initial \+ budget \(21\) at most the pool size \(20\)"):
        Campaign(X, ids, TableOracle(ids, np.ones(20)), n_initial=10, budget=11)
    campaign = Campaign(
        X,
        ids,
        TableOracle(ids, np.ones(20)),
        n_initial=np.int64(5),
        budget=np.int32(4),
        batch_size=np.int64(2),
    )
    assert (campaign.n_initial, campaign.budget, campaign.batch_size) == (5, 4, 2)
    assert type(campaign.n_initial) is int
    json.dumps(campaign._config())  # the state file takes them


RUN_BAD = [
    ({"n_test": 0}, r"n_test must be an integer >= 1, got 0\."),
    ({"n_test": 2.5}, r"n_test must be an integer >= 1, got 2\.5\."),
    ({"n_test": 40}, r"n_test \(40\) must be smaller than the dataset \(40\)\."),
    (
        {"n_pool": 0},
        r"n_pool must be None \(all the structures not in the test set\) or an integer >= 1, got 0\.",
    ),
    ({"n_pool": 31}, r"n_pool \(31\) exceeds the 30 structures left\."),
    (
        {"n_initial": 25, "budget": 6},
        r"n_initial \+ budget \(25 \+ 6 = 31\) must be at most the pool size \(30",
    ),
    ({"budget": 0}, r"budget must be an integer >= 1, got 0\."),
    ({"batch_size": {"random": 2}}, r"batch_size is a dict by strategy without an entry for \['entropy'\]\."),
    (
        {"batch_size": {"random": 2, "entropy": 0}},
        r"batch_size\['entropy'\] must be an integer >= 1, got 0\.",
    ),
    ({"eval_every": 0}, r"eval_every must be None \(every step\) or an integer >= 1, got 0\."),
    ({"seeds": (0, -1)}, r"each seed must be an integer >= 0, got -1\."),
    ({"strategies": ("random", "uncertainty")}, r"strategies must be a non-empty list from"),
]


@pytest.mark.parametrize(
    ("params", "message"), RUN_BAD, ids=[next(iter(p)) + str(i) for i, (p, _) in enumerate(RUN_BAD)]
)
def test_run_campaigns_checks_everything_before_the_first_campaign(small, tmp_path, params, message):
    """A bad value for the last seed or strategy would otherwise surface after the others ran."""
    X, y = small[0][:40], small[1][:40]
    settings = {"strategies": ("random", "entropy"), "seeds": (0,), "n_test": 10, "n_initial": 5, "budget": 4}
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        run_campaigns(X, y, [f"s{i}" for i in range(40)], **{**settings, **params}, out_dir=out)
    assert not out.exists()


@pytest.mark.parametrize("strategy", [random_sampling, max_entropy_sampling, batch_entropy_sampling])
@pytest.mark.parametrize("n_instances", [0, -1, 31, 2.5, True])
def test_strategies_check_n_instances_before_touching_the_learner(strategy, n_instances):
    pool = np.zeros((30, 2))
    with pytest.raises(ValueError, match=r"n_instances must be"):
        strategy(None, pool, n_instances=n_instances)  # no learner: refused before it is used


def test_strategies_take_numpy_integers():
    chosen, _ = random_sampling(None, np.zeros((30, 2)), n_instances=np.int64(3), random_state=0)
    assert len(chosen) == 3


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "usage:" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


CLI_BAD = [
    (["cv", "--folds", "1"], "argument --folds: must be an integer >= 2, got '1'"),
    (["cv", "--max-samples", "0"], "argument --max-samples: must be an integer >= 2, got '0'"),
    (["cv", "--max-samples", "2.5"], "argument --max-samples: must be an integer >= 2, got '2.5'"),
    (["cv", "--epochs", "-1"], "argument --epochs: must be an integer >= 0, got '-1'"),
    (["campaign", "--budget", "0"], "argument --budget: must be an integer >= 1, got '0'"),
    (["campaign", "--budget", "2.5"], "argument --budget: must be an integer >= 1, got '2.5'"),
    (["campaign", "--n-initial", "2"], "argument --n-initial: must be an integer >= 3, got '2'"),
    (["campaign", "--batch-size", "-4"], "argument --batch-size: must be an integer >= 1, got '-4'"),
    (["campaign", "--n-test", "0"], "argument --n-test: must be an integer >= 1, got '0'"),
    (["campaign", "--n-pool", "1e3"], "argument --n-pool: must be an integer >= 1, got '1e3'"),
    (["campaign", "--eval-every", "0"], "argument --eval-every: must be an integer >= 1, got '0'"),
    (["campaign", "--refit-every", "-1"], "argument --refit-every: must be an integer >= 0, got '-1'"),
    (["campaign", "--seeds", "0", "-1"], "argument --seeds: must be an integer >= 0, got '-1'"),
]


@pytest.mark.parametrize(("argv", "message"), CLI_BAD, ids=[" ".join(a) for a, _ in CLI_BAD])
def test_cli_refuses_bad_counts_as_it_reads_them(capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    one_line_error(capsys, f"skmatgp {argv[0]}: error: {message}", f"(see skmatgp {argv[0]} --help)")


CLI_TOO_MANY = [
    (
        ["cv", "--max-samples", "5000"],
        "--max-samples (5000) is more than the 1181 structures of elastic_tensor_2015.",
    ),
    (["cv", "--max-samples", "3"], "--folds (5) is more than the 3 structures to split."),
    (["campaign", "--n-test", "1181"], "--n-test (1181) must be smaller than the 1181 structures"),
    (
        ["campaign", "--n-test", "100", "--n-pool", "1100"],
        "--n-pool (1100) is more than the 1081 structures left",
    ),
    (
        ["campaign", "--n-initial", "500", "--budget", "800"],
        "--n-initial + --budget (500 + 800 = 1300) is more than the 945 structures of the pool.",
    ),
]


@pytest.mark.parametrize(("argv", "message"), CLI_TOO_MANY, ids=[" ".join(a) for a, _ in CLI_TOO_MANY])
def test_cli_refuses_counts_beyond_the_data_before_any_model_work(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    extra = ["--out", str(out)] if argv[0] == "campaign" else ["--output", str(out)]
    assert main([*argv, *extra]) == 2
    one_line_error(capsys, "skmatgp: error: ", message)
    assert not out.exists()


def test_cli_own_pool_is_counted_before_its_files_are_read(tmp_path, capsys, good):
    folder = tmp_path / "cifs"
    folder.mkdir()
    for i, s in enumerate(good):
        s.to(filename=str(folder / f"s{i}.cif"))
    argv = [
        "campaign",
        "--pool-folder",
        str(folder),
        "--n-initial",
        "3",
        "--budget",
        "2",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 2
    one_line_error(capsys, "--n-initial + --budget (3 + 2 = 5) is more than the 4 structures of the pool.")
