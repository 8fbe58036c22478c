"""Tiny copies of the official releases, and a real HTTP server on 127.0.0.1 that serves them.

The archives are packed from the synthetic datasets exactly as the publishers pack theirs:
DeepLesion's 56 ``Images_png_NN.zip`` + ``DL_info.csv`` + ``MD5_checksums.txt``; the MSD
``Task03_Liver.tar`` (with ``._*`` stubs and unlabelled test volumes); HAM10000's Dataverse files,
behind a stand-in of the Dataverse API (file listing with checksums; tabular metadata served as
TSV, or as the original CSV with ``?format=original``).  ``ReleaseServer`` supports HTTP Range,
records every request, and can cut a transfer short once.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import threading
import zipfile
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import nibabel as nib
import yaml

from lesionmtl.datasets.synthetic import write_synthetic
from lesionmtl.fetching.releases import SOURCES

DOI = "doi:10.7910/DVN/DBW86T"
LISTING = "/api/datasets/:persistentId/versions/:latest-published/files"
N_DEEPLESION_ZIPS = 56
SYNTH = {
    "deeplesion": dict(n_cases=14, image_size=128, seed=21, four_digit_fraction=0.4, empty_age_fraction=0.3),
    "lits": dict(n_cases=4, image_size=96, seed=22),
    "ham": dict(n_cases=24, image_size=(60, 80), seed=23),
}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def synthetic(fmt: str, root: Path) -> Path:
    """The synthetic dataset in its unpacked official layout (the reference to compare with)."""
    out = root / f"unpacked-{fmt}"
    if not (out / "generator.json").exists():
        write_synthetic(fmt, out, **SYNTH[fmt])
    return out


def deeplesion_release(www: Path, root: Path, n_zips: int = N_DEEPLESION_ZIPS) -> None:
    """DL_info.csv, MD5_checksums.txt and Images_png_01..NN.zip (series spread over the zips;
    the release has 56, a shorter list keeps Snakemake-level tests quick)."""
    raw = synthetic("deeplesion", root)
    series = sorted(p for p in (raw / "Images_png").iterdir() if p.is_dir())
    www.mkdir(parents=True, exist_ok=True)
    for n in range(1, n_zips + 1):
        with zipfile.ZipFile(www / f"Images_png_{n:02d}.zip", "w") as z:
            for folder in series[n - 1 :: n_zips]:
                for png in sorted(folder.glob("*.png")):
                    z.write(png, f"Images_png/{folder.name}/{png.name}")
            if n == 1:
                z.writestr(f"__MACOSX/Images_png/{series[0].name}/._103.png", b"\x00\x05\x16\x07junk")
    (www / "DL_info.csv").write_bytes((raw / "DL_info.csv").read_bytes())
    listed = ["DL_info.csv"] + [f"Images_png_{n:02d}.zip" for n in range(1, n_zips + 1)]
    (www / "MD5_checksums.txt").write_text("".join(f"{md5(www / name)}  {name}\n" for name in listed))


def msd_release(www: Path, root: Path) -> Path:
    """Task03_Liver.tar in the MSD layout: imagesTr/labelsTr/imagesTs + dataset.json + ._ stubs."""
    raw = synthetic("lits", root)
    stage = root / "msd-stage" / "Task03_Liver"
    cases = sorted(int(p.name.split("-")[1].split(".")[0]) for p in raw.glob("volume-*.nii"))
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (stage / sub).mkdir(parents=True, exist_ok=True)
    for n in cases:
        nib.save(nib.load(raw / f"volume-{n}.nii"), stage / "imagesTr" / f"liver_{n}.nii.gz")
        nib.save(nib.load(raw / f"segmentation-{n}.nii"), stage / "labelsTr" / f"liver_{n}.nii.gz")
        (stage / "imagesTr" / f"._liver_{n}.nii.gz").write_bytes(b"\x00\x05\x16\x07stub")
    nib.save(nib.load(raw / f"volume-{cases[0]}.nii"), stage / "imagesTs" / "liver_900.nii.gz")
    (stage / "dataset.json").write_text(
        json.dumps(
            {
                "name": "Liver",
                "labels": {"0": "background", "1": "liver", "2": "cancer"},
                "numTraining": len(cases),
                "training": [
                    {"image": f"./imagesTr/liver_{n}.nii.gz", "label": f"./labelsTr/liver_{n}.nii.gz"} for n in cases
                ],
                "test": ["./imagesTs/liver_900.nii.gz"],
            }
        )
    )
    www.mkdir(parents=True, exist_ok=True)
    with tarfile.open(www / "Task03_Liver.tar", "w") as tar:
        tar.add(stage, arcname="Task03_Liver")
    return www / "Task03_Liver.tar"


def dataverse_release(www: Path, root: Path) -> list[dict]:
    """HAM10000's Dataverse files and the API listing that describes them."""
    raw = synthetic("ham", root)
    images = sorted(raw.rglob("ISIC_*.jpg"))
    masks = sorted(raw.rglob("ISIC_*_segmentation.png"))
    www.mkdir(parents=True, exist_ok=True)
    for name, files, folder in (
        ("HAM10000_images_part_1.zip", images[: len(images) // 2], ""),
        ("HAM10000_images_part_2.zip", images[len(images) // 2 :], ""),
        ("HAM10000_segmentations_lesion_tschandl.zip", masks, "HAM10000_segmentations_lesion_tschandl/"),
    ):
        with zipfile.ZipFile(www / name, "w") as z:
            for f in files:
                z.write(f, folder + f.name)
            if folder:
                z.writestr(f"__MACOSX/{folder}._{files[0].name}", b"\x00\x05\x16\x07junk")
    metadata = next(raw.glob("HAM10000_metadata*"))
    (www / "HAM10000_metadata.csv").write_bytes(metadata.read_bytes())
    rows = [line.split(",") for line in metadata.read_text().splitlines()]
    (www / "HAM10000_metadata.tab").write_text("".join("\t".join(r) + "\n" for r in rows))
    listing = []
    for i, name in enumerate(
        ["HAM10000_images_part_1.zip", "HAM10000_images_part_2.zip", "HAM10000_segmentations_lesion_tschandl.zip"],
        start=101,
    ):
        listing.append(
            {
                "label": name,
                "dataFile": {
                    "id": i,
                    "filename": name,
                    "md5": md5(www / name),
                    "checksum": {"type": "MD5", "value": md5(www / name)},
                },
            }
        )
    listing.append(
        {
            "label": "HAM10000_metadata.tab",
            "dataFile": {
                "id": 104,
                "filename": "HAM10000_metadata.tab",
                "contentType": "text/tab-separated-values",
                "originalFileFormat": "text/csv",
                "md5": md5(www / "HAM10000_metadata.csv"),
                "checksum": {"type": "MD5", "value": md5(www / "HAM10000_metadata.csv")},
            },
        }
    )
    return listing


def fixture_sources(path: Path, tar: Path, deeplesion_zips: int = N_DEEPLESION_ZIPS) -> Path:
    """The package's sources.yaml with the fixture tar's MD5 in place of the real Task03's (and
    only the first ``deeplesion_zips`` DeepLesion archives)."""
    sources = yaml.safe_load(SOURCES.read_text())
    sources["lits"]["msd"]["md5"]["Task03_Liver.tar"] = md5(tar)
    files = sources["deeplesion"]["nih"]["files"]
    sources["deeplesion"]["nih"]["files"] = {
        name: url
        for name, url in files.items()
        if not name.startswith("Images_png_") or int(name[11:13]) <= deeplesion_zips
    }
    path.write_text(yaml.safe_dump(sources))
    return path


class ReleaseServer(ThreadingHTTPServer):
    """Serves ``www`` (files by name, with Range) and a Dataverse API stand-in."""

    def __init__(self, www: Path, listing: list[dict] | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.www, self.listing = www, listing or []
        self.requests: list[tuple[str, str | None]] = []
        self.cut_once: dict[str, int] = {}  # path -> bytes sent before the connection drops
        self.status_once: dict[str, int] = {}  # path -> error status answered once (e.g. 503)
        self.ignore_range = False  # answer Range requests with the whole file (200), as some servers do

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def datafile(self, file_id: int, original: bool) -> Path | None:
        for item in self.listing:
            df = item["dataFile"]
            if df["id"] == file_id:
                name = item["label"]
                if original and df.get("originalFileFormat"):
                    name = Path(name).stem + ".csv"
                return self.www / name
        return None


class _Handler(BaseHTTPRequestHandler):
    server: ReleaseServer

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        url = urlparse(self.path)
        self.server.requests.append((url.path, self.headers.get("Range")))
        query = parse_qs(url.query)
        if url.path == LISTING:
            if query.get("persistentId") != [DOI]:
                return self.send_error(404, "no such dataset")
            body = json.dumps({"status": "OK", "data": self.server.listing}).encode()
            return self._send(200, body, "application/json")
        if url.path.startswith("/api/access/datafile/"):
            file = self.server.datafile(int(url.path.rsplit("/", 1)[1]), query.get("format") == ["original"])
        else:
            file = self.server.www / unquote(url.path.lstrip("/"))
        if file is None or not file.is_file():
            return self.send_error(404, "Not Found")
        if url.path in self.server.status_once:
            return self.send_error(self.server.status_once.pop(url.path))
        data = file.read_bytes()
        start = 0
        if not self.server.ignore_range and (m := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")):
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
        cut = self.server.cut_once.pop(url.path, None)
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(data[start:] if cut is None else data[start : start + cut])
        self.close_connection = True

    def _send(self, status: int, body: bytes, content_type: str):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serving(www: Path, listing: list[dict] | None = None):
    server = ReleaseServer(www, listing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
