import numpy as np
import pytest
from pymatgen.core import IStructure, Lattice, Structure

from skmatgp import as_structure_array
from skmatgp._structures import check_structures


def nacl():
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_as_structure_array_keeps_structures_whole():
    structures = [nacl(), nacl()]
    X = as_structure_array(structures)
    assert X.shape == (2,) and X.dtype == object
    assert all(isinstance(s, Structure) for s in X)
    # the pitfall this helper exists for: numpy turns structures into arrays of sites
    try:
        bad = np.array(structures)
    except ValueError:
        pass
    else:
        assert bad.shape != (2,)


def test_dicts_are_converted():
    X = as_structure_array([nacl().as_dict()])
    assert isinstance(X[0], Structure) and len(X[0]) == 8


def test_errors_name_the_index():
    with pytest.raises(TypeError, match="index 1 is a int"):
        check_structures([nacl(), 5])
    with pytest.raises(TypeError, match="single Structure"):
        check_structures(nacl())
    with pytest.raises(ValueError, match="empty"):
        check_structures([])
    with pytest.raises(ValueError, match="index 0 has no sites"):
        check_structures([Structure(Lattice.cubic(3), [], [])])
    with pytest.raises(ValueError, match="1-D"):
        check_structures(np.empty((2, 2), dtype=object))
    with pytest.raises(ValueError, match="shape \\(2, 3\\). A numeric table is a feature matrix"):
        check_structures(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="index 1 is the path 'NaCl.cif': no such file"):
        check_structures([nacl(), "NaCl.cif"])  # a str is a path to a structure file


def test_immutable_structures_are_read():
    immutable = IStructure.from_sites(nacl())
    (read,) = check_structures([immutable])
    assert isinstance(read, Structure) and read == nacl()
    with pytest.raises(TypeError, match="single Structure"):
        check_structures(immutable)
    with pytest.raises(ValueError, match=r"shape \(1, 2\)\. Build"):  # strings: no feature matrix
        check_structures(np.array([["a.cif", "b.cif"]]))
