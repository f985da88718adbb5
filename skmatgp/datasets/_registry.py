"""What each known dataset is: its file, checksum, targets, source, licence and citation, and
where a missing file can be downloaded from."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Target:
    """A target column, optionally transformed (e.g. log10 of a modulus)."""

    column: str
    transform: str | None = None  # None or "log10"
    unit: str = ""

    def apply(self, values: np.ndarray) -> np.ndarray:
        if self.transform == "log10":
            return np.log10(values)
        return values


@dataclass(frozen=True)
class Source:
    """A published file a dataset is converted from, pinned by its sha256."""

    url: str
    sha256: str
    filename: str  # the name it is saved under while it is converted


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    filename: str
    sha256: str
    n_rows: int
    targets: dict[str, Target]
    default_target: str
    source: str
    licence: str
    citation: str
    bundled: bool = False
    contains_element: str | None = None  # a filtered view of another file
    notes: str = field(default="")
    # where a missing file comes from: published files and the conversion that turns them into
    # ``filename`` (a name in ``_convert.CONVERSIONS``); or why there is none
    sources: tuple[Source, ...] = ()
    conversion: str | None = None
    no_source: str = ""


_MP_TARGETS = {
    "formation_energy_per_atom": Target("formation_energy_per_atom", unit="eV/atom"),
    "band_gap": Target("band_gap", unit="eV (PBE)"),
}
_MP_SOURCE = "A Materials Project snapshot (queried about 2018-2020) published with the MT-CGCNN code."
_MP_CITATION = "Jain et al., APL Mater. 1, 011002 (2013)."
_MP_NO_SOURCE = (
    "the snapshot was published with the MT-CGCNN code without a download that a checksum pins, "
    "so skmatgp cannot fetch and verify it."
)
# Perov-5 (the CDVAE repository) at a fixed commit: git pins the bytes the URL serves
_PEROV5 = (
    "https://raw.githubusercontent.com/txie-93/cdvae/f857f598d6f6cca5dc1ea0582d228f12dcc2c2ea/data/perov_5"
)

DATASETS: dict[str, DatasetInfo] = {
    "elastic_tensor_2015": DatasetInfo(
        name="elastic_tensor_2015",
        filename="elastic_tensor_2015.jsonl.gz",
        sha256="7f9ae44f72c47c222ef71887db4516e88179dbdf6abbde0cc7a3c6391232aae1",
        n_rows=1181,
        targets={
            "log10_G_VRH": Target("G_VRH", "log10", "log10(GPa)"),
            "log10_K_VRH": Target("K_VRH", "log10", "log10(GPa)"),
            "G_VRH": Target("G_VRH", unit="GPa"),
            "K_VRH": Target("K_VRH", unit="GPa"),
        },
        default_target="log10_G_VRH",
        source="matminer/datasets/elastic_tensor.csv in the matminer 0.4.0 source distribution.",
        licence="CC BY 4.0 (Materials Project).",
        citation="de Jong et al., Sci. Data 2, 150009 (2015).",
        bundled=True,
        notes="log10_G_VRH is Matbench's log_gvrh target; log10_K_VRH is log_kvrh.",
    ),
    "matbench_dielectric": DatasetInfo(
        name="matbench_dielectric",
        filename="matbench_dielectric.jsonl.gz",
        sha256="223ba38175ab91f3c38e06099c20e4152c1f63b6b75ab188b40c31930f0e17e7",
        n_rows=4764,
        targets={"n": Target("n", unit="refractive index")},
        default_target="n",
        source="Matbench v0.1 matbench_dielectric; ids mb-dielectric-NNNN follow the row order.",
        licence="Matbench MIT; data CC BY 4.0.",
        citation=(
            "Petousis et al., Sci. Data 4, 160134 (2017); Dunn et al., npj Comput. Mater. 6, 138 (2020)."
        ),
        # URL and sha256 as matminer 0.10.1's dataset_metadata.json lists them
        sources=(
            Source(
                "https://ml.materialsproject.org/projects/matbench_dielectric.json.gz",
                "83befa09bc2ec2f4b6143afc413157827a90e5e2e42c1eb507ccfa01bf26a1d6",
                "matbench_dielectric.json.gz",
            ),
        ),
        conversion="matbench",
    ),
    "castelli_perovskites_7k": DatasetInfo(
        name="castelli_perovskites_7k",
        filename="castelli_perovskites_7k.jsonl.gz",
        sha256="a833f81a30635208b7b6d87f48c5320d12f27175604b0617d4c5e457b7dce325",
        n_rows=7572,
        targets={
            "e_form": Target("e_form", unit="eV per 5-atom cell"),
            "dir_gap": Target("dir_gap", unit="eV (GLLB-SC)"),
            "ind_gap": Target("ind_gap", unit="eV (GLLB-SC)"),
        },
        default_target="e_form",
        source="Validation and test parts of the Perov-5 set (Castelli perovskites).",
        licence="See the original publication.",
        citation="Castelli et al., Energy Environ. Sci. 5, 9034 (2012).",
        sources=(
            Source(
                f"{_PEROV5}/val.csv",
                "326f401219901270374b71e2faff63df3a29a99fd26f469993b9f476b693daf2",
                "perov_5_val.csv",
            ),
            Source(
                f"{_PEROV5}/test.csv",
                "a85878c685037f0a578257f6d4fcdde00e968dbab73c5f1e90ecef65218513f6",
                "perov_5_test.csv",
            ),
        ),
        conversion="perov5",
    ),
    "mp_2020": DatasetInfo(
        name="mp_2020",
        filename="mp_2020.jsonl.gz",
        sha256="71b8e5787b678642760b352c77fa21c934890cd7b06779efa4312e0cf5bd5c0f",
        n_rows=36738,
        targets=_MP_TARGETS,
        default_target="formation_energy_per_atom",
        source=_MP_SOURCE,
        licence="CC BY 4.0 (Materials Project).",
        citation=_MP_CITATION,
        no_source=_MP_NO_SOURCE,
    ),
    "mp_2020_oxides": DatasetInfo(
        name="mp_2020_oxides",
        filename="mp_2020.jsonl.gz",
        sha256="71b8e5787b678642760b352c77fa21c934890cd7b06779efa4312e0cf5bd5c0f",
        n_rows=16994,
        targets=_MP_TARGETS,
        default_target="formation_energy_per_atom",
        source=_MP_SOURCE + " Only the structures that contain oxygen.",
        licence="CC BY 4.0 (Materials Project).",
        citation=_MP_CITATION,
        no_source=_MP_NO_SOURCE,
        contains_element="O",
        notes=(
            "The closest public stand-in for the data of Allotey, Butler and "
            "Thiyagalingam, J. Chem. Phys. 155, 174116 (2021), which was never published."
        ),
    ),
}


def describe(info: DatasetInfo, target: str, n_rows: int, element: str | None = None) -> str:
    """The DESCR text of a loaded dataset."""
    subset = f" (those containing {element})" if element else ""
    lines = [
        f"{info.name}: {n_rows} structures{subset}; target {target} ({info.targets[target].unit}).",
        f"Targets available: {', '.join(info.targets)}.",
        f"Source: {info.source}",
        f"Licence: {info.licence}",
        f"Cite: {info.citation}",
    ]
    if info.notes:
        lines.append(info.notes)
    lines.append(download_line(info))
    return "\n".join(lines)


def download_line(info: DatasetInfo) -> str:
    """Where the file comes from when it is missing from the data home."""
    if info.bundled:
        return "Bundled with skmatgp."
    if info.sources:
        urls = ", ".join(f"{s.url} (sha256 {s.sha256})" for s in info.sources)
        return f"Download: from {urls}, converted once to {info.filename} in the data home."
    return f"Download: no public source with a checksum: {info.no_source}"
