"""A user's own structures in Python: ASE Atoms, paths to CIF/POSCAR files and
``Structure.as_dict()`` dicts are taken wherever Structures are."""

from pathlib import Path

import numpy as np
import pytest
from ase.build import molecule
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from skmatgp import CrystalGraphTransformer, FoundationFeaturizer, as_structure_array
from skmatgp._structures import check_structures


@pytest.fixture(scope="module")
def real(small):
    return list(small[0][:4])


def same_structure(a: Structure, b: Structure, atol: float = 1e-6) -> bool:
    return (
        [str(s.specie) for s in a] == [str(s.specie) for s in b]
        and np.allclose(a.lattice.matrix, b.lattice.matrix, atol=atol)
        and np.allclose(a.frac_coords, b.frac_coords, atol=atol)
    )


def write_files(structures, folder: Path) -> list[Path]:
    """The first half as CIFs, the rest as POSCARs."""
    paths = []
    for i, s in enumerate(structures):
        path = folder / (f"s{i}.cif" if i < len(structures) // 2 else f"POSCAR_s{i}")
        s.to(filename=str(path))
        paths.append(path)
    return paths


def test_atoms_paths_and_dicts_become_the_same_structures(real, tmp_path):
    atoms = [AseAtomsAdaptor.get_atoms(s) for s in real]
    paths = write_files(real, tmp_path)
    mixed = [atoms[0], str(paths[1]), paths[2], real[3].as_dict()]
    for given in (atoms, paths, [str(p) for p in paths], mixed):
        out = as_structure_array(given)
        assert out.dtype == object and all(isinstance(s, Structure) for s in out)
        assert all(same_structure(a, b) for a, b in zip(out, real, strict=True))


def test_the_transformer_and_the_featurizer_take_them(real, tmp_path):
    paths = write_files(real, tmp_path)
    mixed = [AseAtomsAdaptor.get_atoms(real[0]), str(paths[1]), paths[2], real[3].as_dict()]
    graphs = CrystalGraphTransformer().fit_transform(mixed)
    expected = CrystalGraphTransformer().fit_transform(as_structure_array(real))
    for got, want in zip(graphs, expected, strict=True):
        assert np.array_equal(got.z, want.z)
        np.testing.assert_allclose(got.edge_dist, want.edge_dist, atol=1e-5)
    featurizer = FoundationFeaturizer()
    np.testing.assert_allclose(
        featurizer.fit_transform(mixed), featurizer.transform(as_structure_array(real)), atol=1e-4
    )


def test_an_unreadable_file_among_many_is_named_by_path_and_index(real, tmp_path):
    paths = write_files(real, tmp_path)
    broken = tmp_path / "broken.cif"
    broken.write_text("data_broken\n_cell_length_a 3.0\n")
    with pytest.raises(ValueError, match=rf"index 2: cannot read a structure from '{broken}'"):
        CrystalGraphTransformer().fit_transform([*paths[:2], broken, *paths[2:]])
    notes = tmp_path / "notes.txt"
    notes.write_text("not a structure")
    with pytest.raises(ValueError, match=r"index 1: cannot read .*notes.txt.*Unrecognized extension"):
        FoundationFeaturizer().fit([paths[0], notes])


@pytest.mark.parametrize(
    "item, message",
    [
        ("missing.cif", "index 1 is the path 'missing.cif': no such file"),
        (".", "index 1 is the path '.': a folder, not a file"),
        ("data_x\n_cell_length_a 3\n", r"index 1 is a string of several lines.*Structure.from_str"),
        (molecule("H2O"), r"index 1 is an ASE Atoms \(H2O\) without a periodic cell.*a molecule"),
        # "C:\data\new\mp-1.cif" and "C:\temp\mp-1.cif" typed without r: "\n" and "\t" escapes
        ("C:\\data\new\\mp-1.cif", r"several lines, not a path: a Windows path\? Write it as r'...'"),
        ("C:\temp\\mp-1.cif", r"no such file: a Windows path\? Write it as r'...' or with forward"),
    ],
    ids=["missing", "folder", "cif-text", "molecule", "windows-newline", "windows-tab"],
)
def test_items_that_are_no_structure_are_refused_by_index(real, item, message):
    with pytest.raises(ValueError, match=message):
        check_structures([real[0], item])


def test_a_single_item_asks_for_a_list(real, tmp_path):
    with pytest.raises(TypeError, match="a single ASE Atoms. Wrap it in a list"):
        check_structures(AseAtomsAdaptor.get_atoms(real[0]))
    with pytest.raises(TypeError, match=r"a single path .*a folder: list its files.*glob\('\*.cif'\)"):
        check_structures(tmp_path)
    with pytest.raises(TypeError, match="as_structure_array got a single path 'a.cif'"):
        as_structure_array("a.cif")
