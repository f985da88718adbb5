import gzip
import json
import os

import numpy as np
import pytest
from pymatgen.core import Lattice, Species, Structure

from skmatgp.datasets import (
    get_data_home,
    load_cgcnn_folder,
    load_dataset,
    load_matbench_json,
)
from skmatgp.datasets._loaders import _structures_from_dicts

needs_shared = pytest.mark.skipif(
    not os.environ.get("SKMATGP_DATA"), reason="SKMATGP_DATA not set (../shared/data missing)"
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """A missing file must not send these tests to the internet (tests/test_downloads.py
    downloads from a loopback server)."""
    monkeypatch.setenv("SKMATGP_OFFLINE", "1")


def test_bundled_dataset_loads_without_data_home(elastic, tmp_path, monkeypatch):
    monkeypatch.setenv("SKMATGP_DATA", str(tmp_path))  # an empty folder: not used
    data = load_dataset("elastic_tensor_2015")
    assert len(data.structures) == 1181 and isinstance(data.structures[0], Structure)
    assert data.target_name == "log10_G_VRH"
    assert "de Jong" in data.DESCR and "CC BY 4.0" in data.DESCR
    assert data.ids[0] == "mp-10003" and data.formulas[0] == "Nb4CoSi"
    # log10 of the raw modulus (97.14 GPa for mp-10003)
    assert data.target[0] == pytest.approx(np.log10(97.1416044794))
    raw = load_dataset("elastic_tensor_2015", target="G_VRH")
    assert raw.target[0] == pytest.approx(97.1416044794)
    X, y = load_dataset(return_X_y=True, target="log10_K_VRH")
    assert X.dtype == object and y[0] == pytest.approx(np.log10(194.268884359))


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset("qm9")
    with pytest.raises(ValueError, match="no target 'band_gap'"):
        load_dataset("elastic_tensor_2015", target="band_gap")


def test_missing_file_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("matbench_dielectric", data_home=tmp_path)
    message = str(info.value)
    assert "matbench_dielectric.jsonl.gz" in message and str(tmp_path) in message
    assert "SKMATGP_DATA" in message and "ml.materialsproject.org" in message


def test_corrupt_file_is_refused(tmp_path):
    with gzip.open(tmp_path / "matbench_dielectric.jsonl.gz", "wt") as fh:
        fh.write("{}\n")
    with pytest.raises(ValueError, match="sha256"):
        load_dataset("matbench_dielectric", data_home=tmp_path)


def test_data_home_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("SKMATGP_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("SKMATGP_DATA")
    assert get_data_home().name == "skmatgp_data"


@needs_shared
def test_data_home_datasets():
    dielectric = load_dataset("matbench_dielectric")
    assert len(dielectric.target) == 4764 and dielectric.target_name == "n"
    assert dielectric.ids[0] == "mb-dielectric-0001"
    castelli = load_dataset("castelli_perovskites_7k")
    assert len(castelli.target) == 7572 and all(len(s) == 5 for s in castelli.structures[:50])


@pytest.mark.slow  # reads the whole 2020 Materials Project oxides set
@needs_shared
def test_mp_2020_oxides():
    oxides = load_dataset("mp_2020_oxides")
    assert len(oxides.structures) == 16994
    assert all("O" in {el.symbol for el in s.composition} for s in oxides.structures[:500])
    assert oxides.target_name == "formation_energy_per_atom"
    assert "Allotey" in oxides.DESCR and "no public source with a checksum" in oxides.DESCR


def test_cgcnn_folder_round_trip(elastic, tmp_path):
    rows = []
    for structure, structure_id, value in zip(elastic.structures[:5], elastic.ids[:5], elastic.target[:5]):
        structure.to(filename=str(tmp_path / f"{structure_id}.cif"))
        rows.append(f"{structure_id},{value}")
    (tmp_path / "id_prop.csv").write_text("\n".join(rows) + "\n")
    data = load_cgcnn_folder(tmp_path)
    assert list(data.ids) == list(elastic.ids[:5])
    assert np.allclose(data.target, elastic.target[:5])
    for read, original in zip(data.structures, elastic.structures[:5]):
        assert read.composition == original.composition
        assert read.lattice.volume == pytest.approx(original.lattice.volume, rel=1e-4)


def test_cgcnn_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="id_prop.csv"):
        load_cgcnn_folder(tmp_path)
    (tmp_path / "id_prop.csv").write_text("mp-1,1.0\n")
    with pytest.raises(FileNotFoundError, match="mp-1.cif"):
        load_cgcnn_folder(tmp_path)
    (tmp_path / "id_prop.csv").write_text("id,value\nmp-1,1.0\n")
    with pytest.raises(ValueError, match="line 1: .* a number as the value.*If it is a header row, delete it"):
        load_cgcnn_folder(tmp_path)


def test_contains_element_must_be_an_element_symbol(elastic):
    with_fe = load_dataset("elastic_tensor_2015", contains_element="Fe")
    assert 0 < len(with_fe.target) < len(elastic.target)
    assert all("Fe" in s.composition.as_dict() for s in with_fe.structures)
    for bad in ("fe", "Xx"):
        with pytest.raises(ValueError, match=f"contains_element='{bad}' is not an element symbol"):
            load_dataset("elastic_tensor_2015", contains_element=bad)


def test_matbench_file_round_trip(elastic, tmp_path):
    table = {
        "index": [f"mb-{i}" for i in range(4)],
        "columns": ["structure", "log10(G_VRH)"],
        "data": [[s.as_dict(), float(v)] for s, v in zip(elastic.structures[:4], elastic.target[:4])],
    }
    path = tmp_path / "matbench_log_gvrh.json.gz"
    with gzip.open(path, "wt") as fh:
        json.dump(table, fh)
    data = load_matbench_json(path)
    assert data.target_name == "log10(G_VRH)" and list(data.ids) == table["index"]
    assert np.allclose(data.target, elastic.target[:4])
    assert data.structures[2] == elastic.structures[2]
    with pytest.raises(ValueError, match="no column"):
        load_matbench_json(path, target="n")


def test_fast_structure_reading_matches_pymatgen(elastic):
    """The loaders' own Structure.from_dict keeps every species' element, occupancy and
    oxidation state."""
    charged = Structure(
        Lattice.cubic(5.64), [Species("Na", 1), Species("Cl", -1)], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    structures = [*elastic.structures[:20], charged]
    read = _structures_from_dicts(s.as_dict() for s in structures)
    for original, copy in zip(structures, read):
        assert copy == original
        assert [str(sp) for sp in copy.species] == [str(sp) for sp in original.species]
    assert [str(sp) for sp in read[-1].species] == ["Na+", "Cl-"]
