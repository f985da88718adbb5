"""Getting a dataset file that is missing from the data home, and checking the one that is there.

A missing file comes from a mirror of data homes (``SKMATGP_DATA_URL``, serving the data home's
own file names, checked against the registry's ``sha256``), or else from the dataset's public
source: each published file is checked against its pinned sha256, then converted once to the
data home's format. A converted file cannot match the registry's ``sha256`` byte for byte (a
source may store floats a little differently), so beside it ``<file>.source.json`` records the
hash of what was converted and of the sources it came from. Everything is downloaded into a
temporary folder in the data home and moved into place only when complete and verified.
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
            download(f"{mirror.rstrip('/')}/{info.filename}", info.sha256, tmp / info.filename)
        else:
            from ._convert import convert

            originals = []
            for source in info.sources:
                download(source.url, source.sha256, tmp / source.filename)
                originals.append(tmp / source.filename)
            logger.info("Converting %s to %s", ", ".join(s.url for s in info.sources), path)
            convert(info, originals, tmp / info.filename)
            record = {"sha256": sha256_of(tmp / info.filename), "sources": _sources_record(info.sources)}
            _sidecar(path).write_text(json.dumps(record, indent=1) + "\n")
        os.replace(tmp / info.filename, path)
    return path


def read_verified(info: DatasetInfo, path: Path) -> bytes:
    """The bytes of ``path``, if they are the registry's file or skmatgp's conversion of its
    pinned sources."""
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest == info.sha256 or _converted_here(info, path, digest):
        return raw
    raise ValueError(
        f"{path} has sha256 {digest}, expected {info.sha256}: the file is corrupt or a "
        "different version. Replace it with the published file, or delete it and load the "
        "dataset again to download it."
    )


def download(url: str, sha256: str, out: Path) -> None:
    """Download ``url`` to ``out`` with a progress bar; refuse (and delete) a file whose sha256
    is not ``sha256``."""
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
            what = f"the server answered {response.status_code} {response.reason}"
        else:
            what = f"the transfer was interrupted after {got} bytes ({exc})"
        raise ConnectionError(
            f"Downloading {url} failed: {what}. Nothing was kept in the data home; run it again to "
            f"retry, or set {MIRROR_ENV} to a mirror that serves the data home's files."
        ) from exc
    finally:
        bar.close()
    actual = sha256_of(out)
    if actual != sha256:
        out.unlink()
        raise ValueError(
            f"The file downloaded from {url} has sha256 {actual}, expected {sha256}: it is corrupt "
            "or a different version, so it was not kept. Try again later, or tell the skmatgp "
            "developers if the published file has changed."
        )


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
        record = json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        return False
    pinned = [s["sha256"] for s in _sources_record(info.sources)]
    return (
        bool(pinned)
        and record.get("sha256") == digest
        and [s.get("sha256") for s in record.get("sources", [])] == pinned
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
