"""StructureDescriptors: composition and packing numbers worked out by hand on real structures."""

import numpy as np
import pytest
from pymatgen.core import DummySpecies, Element, Lattice, Structure
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline

from skmatgp import StructureDescriptors

A = 5.64  # rock salt NaCl, conventional cell, Å


@pytest.fixture(scope="module")
def nacl():
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(A), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_composition_columns_by_hand(nacl):
    features = StructureDescriptors(packing=False).fit_transform([nacl])
    names = list(StructureDescriptors(packing=False).get_feature_names_out())
    assert features.shape == (1, 124) and len(names) == 124
    row = dict(zip(names, features[0]))
    assert row["fraction_Na"] == row["fraction_Cl"] == 0.5
    assert sum(features[0, :100]) == pytest.approx(1.0)
    na, cl = Element("Na"), Element("Cl")
    assert row["mean_electronegativity"] == pytest.approx((na.X + cl.X) / 2)
    assert row["std_electronegativity"] == pytest.approx(abs(na.X - cl.X) / 2)  # two equal weights
    assert row["min_atomic_mass"] == pytest.approx(float(na.atomic_mass))
    assert row["max_atomic_mass"] == pytest.approx(float(cl.atomic_mass))


def test_packing_columns_by_hand(nacl):
    """Every packing number of NaCl worked out by hand, and a one-site cell's neighbour rule."""
    features = StructureDescriptors().fit_transform([nacl])
    assert features.shape == (1, 132)
    volume_per_atom, density, packing, n_sites, log_n, nearest_min, nearest_mean, anisotropy = features[
        0, 124:
    ]
    assert n_sites == 8 and log_n == pytest.approx(np.log(8))
    assert volume_per_atom == pytest.approx(A**3 / 8)
    mass_g = 4 * (22.98977 + 35.453) / 6.02214076e23
    assert density == pytest.approx(mass_g / (A * 1e-8) ** 3, rel=1e-4)  # g/cm³, about 2.16
    spheres = 4 * 4 / 3 * np.pi * (Element("Na").atomic_radius ** 3 + Element("Cl").atomic_radius ** 3)
    assert packing == pytest.approx(spheres / A**3)
    assert nearest_min == pytest.approx(A / 2) and nearest_mean == pytest.approx(A / 2)
    assert anisotropy == pytest.approx(1.0)
    one_site = Structure(Lattice.tetragonal(3.0, 4.5), ["Cu"], [[0, 0, 0]])
    nearest, anisotropy = StructureDescriptors().transform([one_site])[0, [129, 131]]
    assert (nearest, anisotropy) == pytest.approx((3.0, 1.5))


def test_a_booster_on_descriptors_learns_a_real_target(small):
    """In a Pipeline on 60 real elastic structures, cross-validated predictions of log10 G_VRH
    beat predicting the mean."""
    structures, y = small
    model = make_pipeline(StructureDescriptors(), HistGradientBoostingRegressor(max_iter=50, random_state=0))
    predicted = cross_val_predict(model, structures, y, cv=3)
    assert np.mean(np.abs(predicted - y)) < np.mean(np.abs(y - y.mean()))
    assert clone(model).get_params()["structuredescriptors__packing"] is True


def test_errors_name_the_input(nacl):
    with pytest.raises(TypeError, match="single Structure"):
        StructureDescriptors().transform(nacl)
    lawrencium = Structure(Lattice.cubic(4.0), ["Lr"], [[0, 0, 0]])
    with pytest.raises(ValueError, match="index 1 contains Lr"):
        StructureDescriptors().transform([nacl, lawrencium])
    dummy = Structure(Lattice.cubic(4.0), ["Na", DummySpecies("X")], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match="index 1 contains X, which is no element"):
        StructureDescriptors().transform([nacl, dummy])
