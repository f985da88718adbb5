"""Getting a dataset file that is missing from the data home, and checking the one that is there.

A missing file comes from a mirror of data homes (``SKMATGP_DATA_URL``, serving the data home's
own file names), or else from the dataset's public source: each published file is checked
against its pinned sha256, then converted once to the data home's format. A converted file
cannot match the registry's ``sha256`` byte for byte (its bytes depend on pymatgen's version:
``Structure.as_dict`` gains keys, CIF parsing rounds floats), so beside it ``<file>.source.json``
records the hash of what was converted and of the sources it came from. A mirror of such a data
home serves that record too: its file is accepted when it is the registry's, or the conversion
its record names of the registry's pinned sources. Everything is downloaded into a temporary
folder in the data home and moved into place only when complete and verified.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from ._registry import DatasetInfo, Source

logger = logging.getLogger(__name__)

MIRROR_ENV = "SKMATGP_DATA_URL"
OFFLINE_ENV = "SKMATGP_OFFLINE"


def offline() -> bool:
    """``SKMATGP_OFFLINE`` set to anything but empty or ``0`` forbids downloads."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def ensure_file(info: DatasetInfo, home: Path, download_if_missing: bool = True) -> Path:
    """The path of ``info``'s file in ``home``, downloaded (and converted) first if missing."""
    path = home / info.filename
    if path.is_file():
        return path
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror and not info.sources:
        raise FileNotFoundError(
            f"Dataset file {info.filename} not found in {home}, and {info.name} has no public source "
            f"with a checksum to download it from: {info.no_source} To use it, {_put_it_there(info)}"
        )
    if not download_if_missing or offline():
        off = "download_if_missing=False" if not download_if_missing else f"{OFFLINE_ENV}=1"
        raise FileNotFoundError(
            f"Dataset file {info.filename} not found in {home}. {_where_from(info, mirror)} Downloads "
            f"are off ({off}): pass download_if_missing=True (the default) and unset {OFFLINE_ENV} to "
            f"download it; or {_put_it_there(info)}"
        )
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home, prefix=".skmatgp-download-") as tmp:
        tmp = Path(tmp)
        if mirror:
            _from_mirror(info, mirror.rstrip("/"), tmp / info.filename)
        else:
            from ._convert import convert

            originals = []
            for source in info.sources:
                download(source.url, source.sha256, tmp / source.filename)
                originals.append(tmp / source.filename)
            logger.info("Converting %s to %s", ", ".join(s.url for s in info.sources), path)
            convert(info, originals, tmp / info.filename)
            record = {"sha256": sha256_of(tmp / info.filename), "sources": _sources_record(info.sources)}
            _sidecar(tmp / info.filename).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        if _sidecar(tmp / info.filename).is_file():  # first: the file is never there without it
            os.replace(_sidecar(tmp / info.filename), _sidecar(path))
        os.replace(tmp / info.filename, path)
    return path


def _from_mirror(info: DatasetInfo, base: str, out: Path) -> None:
    """``info``'s file from a mirror of data homes into ``out``: the registry's bytes, or a
    conversion of the pinned sources with its ``<file>.source.json`` (fetched beside it)."""
    url = f"{base}/{info.filename}"
    download(url, None, out)
    digest = sha256_of(out)
    if digest == info.sha256:
        return
    why = ""
    if info.sources:
        record = _sidecar(out)
        if download(f"{url}.source.json", None, record, missing_ok=True):
            if _converted_here(info, out, digest):
                return
            why = f"; its {record.name} does not record it as converted from the sources skmatgp pins"
        else:
            why = (
                f", and the mirror serves no {record.name} (the record a data home keeps beside a "
                "file converted from the public source: copy it to the mirror beside the file)"
            )
    out.unlink()
    raise ValueError(
        f"The file downloaded from {url} has sha256 {digest}, expected {info.sha256}{why}: it is "
        "corrupt or a different version, so it was not kept. Replace it on the mirror with the "
        f"data home's file, or unset {MIRROR_ENV} to download it from its public source."
    )


def read_verified(info: DatasetInfo, path: Path) -> bytes:
    """The bytes of ``path``, if they are the registry's file or skmatgp's conversion of its
    pinned sources."""
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest == info.sha256 or _converted_here(info, path, digest):
        return raw
    record = _sidecar(path)
    missing = (
        f" No {record.name} lies beside it: if it was converted from the public source, copy that "
        "record along with it."
        if info.sources and not record.exists()
        else ""
    )
    raise ValueError(
        f"{path} has sha256 {digest}, expected {info.sha256}: the file is corrupt or a "
        f"different version.{missing} Replace it with the published file, or delete it and load "
        "the dataset again to download it."
    )


def download(url: str, sha256: str | None, out: Path, missing_ok: bool = False) -> bool:
    """Download ``url`` to ``out`` with a progress bar; refuse (and delete) a file whose sha256
    is not ``sha256`` (None: the caller checks it). With ``missing_ok``, a file the server
    does not have (404) returns False instead of raising; True otherwise."""
    import pooch
    import requests
    from tqdm.auto import tqdm

    logger.info("Downloading %s", url)
    bar = tqdm(total=1, desc=out.name, unit="B", unit_scale=True, leave=True)
    try:
        pooch.HTTPDownloader(progressbar=bar)(url, str(out), None)
    except requests.RequestException as exc:
        got = out.stat().st_size if out.exists() else 0
        out.unlink(missing_ok=True)
        response = getattr(exc, "response", None)
        if isinstance(exc, requests.HTTPError) and response is not None:
            if missing_ok and response.status_code == 404:
                return False
            what = f"the server answered {response.status_code} {response.reason}"
        else:
            what = f"the transfer was interrupted after {got} bytes ({exc})"
        raise ConnectionError(
            f"Downloading {url} failed: {what}. Nothing was kept in the data home; run it again to "
            f"retry, or set {MIRROR_ENV} to a mirror that serves the data home's files."
        ) from exc
    finally:
        bar.close()
    if sha256 is not None and (actual := sha256_of(out)) != sha256:  # None: the caller checks it
        out.unlink()
        raise ValueError(
            f"The file downloaded from {url} has sha256 {actual}, expected {sha256}: it is corrupt "
            "or a different version, so it was not kept. Try again later, or tell the skmatgp "
            "developers if the published file has changed."
        )
    return True


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".source.json")


def _sources_record(sources: tuple[Source, ...]) -> list[dict]:
    return [{"url": s.url, "sha256": s.sha256} for s in sources]


def _converted_here(info: DatasetInfo, path: Path, digest: str) -> bool:
    try:
        record = json.loads(_sidecar(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or not isinstance(record.get("sources"), list):
        return False
    pinned = [s["sha256"] for s in _sources_record(info.sources)]
    return (
        bool(pinned)
        and record.get("sha256") == digest
        and [s.get("sha256") if isinstance(s, dict) else None for s in record["sources"]] == pinned
    )


def _where_from(info: DatasetInfo, mirror: str) -> str:
    if mirror:
        return f"It would be downloaded from the mirror {mirror.rstrip('/')}/{info.filename} ({MIRROR_ENV})."
    urls = " and ".join(s.url for s in info.sources)
    return f"It would be downloaded from {urls} (sha256 pinned) and converted."


def _put_it_there(info: DatasetInfo) -> str:
    return (
        f"put {info.filename} (sha256 {info.sha256}) in the data home, point skmatgp at the folder that "
        "holds it (load_dataset(..., data_home='/path/to/data') or the environment variable "
        f"SKMATGP_DATA=/path/to/data), or set {MIRROR_ENV} to a server that serves the data "
        "home's files."
    )
