"""Exported image files are named by the format of their bytes, for every accepted format."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from tests.factories import KEY, make_boxes_json, make_datapoint_input, new_project
from winnow.cli.main import app
from winnow.image_formats import sniff
from winnow.platform.schema import Image
from winnow.platform.service import Platform
from winnow.settings import Settings

# Pillow's writer name and the extension a reader expects of each accepted format.
FORMATS = {
    "JPEG": ("JPEG", ".jpg"),
    "PNG": ("PNG", ".png"),
    "WebP": ("WEBP", ".webp"),
    "BMP": ("BMP", ".bmp"),
    "TIFF": ("TIFF", ".tiff"),
    "GIF": ("GIF", ".gif"),
}
SUFFIX_FORMAT = {suffix: name for name, (_writer, suffix) in FORMATS.items()}


def _encoded(writer: str) -> bytes:
    rng = np.random.default_rng(3)
    pixels = np.repeat(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8), 20, axis=0)
    out = io.BytesIO()
    PILImage.fromarray(np.repeat(pixels, 20, axis=1)).save(out, format=writer)
    return out.getvalue()


def _store(platform: Platform, project: str, data: bytes, prediction: dict[str, object]) -> None:
    result = platform.register(
        workspace=platform.workspace(KEY),
        project=project,
        data=data,
        datapoint=make_datapoint_input("b1", prediction=prediction),
    )
    with platform.db.write() as session:
        image = session.get(Image, result.image.id)
        assert image is not None
        image.status = "labeled"


@pytest.fixture
def data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Path:
    writer, _suffix = FORMATS[request.param]
    data = _encoded(writer)
    assert sniff(data) == request.param
    root = tmp_path / "data"
    monkeypatch.setenv("WINNOW_DATA_DIR", str(root))
    monkeypatch.setenv("WINNOW_API_KEY", KEY)
    platform = Platform.open(Settings(data_dir=root, api_key=KEY))
    new_project(platform, "cars")
    new_project(platform, "kinds", "classification")
    boxes = make_boxes_json([[80, 60, 40, 30]], class_name=["car"], confidence=[0.6])
    _store(platform, "cars", data, {"image": {"width": 160, "height": 120}, "predictions": boxes})
    top = {"top": "red", "confidence": 0.9, "predictions": [{"class": "red", "confidence": 0.9}]}
    _store(platform, "kinds", data, {"image": {"width": 160, "height": 120}, **top})
    platform.close()
    return root


def _export(project: str, fmt: str, out: Path) -> list[Path]:
    result = CliRunner().invoke(
        app, ["export", project, "-f", fmt, "-o", str(out), "--split", "1,0,0"]
    )
    assert result.exit_code == 0, result.output
    files = [p for p in out.rglob("*") if p.is_file() and sniff(p.read_bytes()[:16]) is not None]
    assert len(files) == 1, sorted(out.rglob("*"))
    return files


def _named_by_bytes(path: Path) -> str:
    fmt = sniff(path.read_bytes())
    assert fmt is not None and SUFFIX_FORMAT[path.suffix] == fmt, (path.name, fmt)
    return path.name


@pytest.mark.parametrize("data_dir", list(FORMATS), indirect=True)
def test_each_export_names_image_files_by_their_bytes(data_dir: Path, tmp_path: Path) -> None:
    [coco_file] = _export("cars", "coco", tmp_path / "coco")
    document = json.loads((tmp_path / "coco" / "train" / "_annotations.coco.json").read_text())
    assert [i["file_name"] for i in document["images"]] == [_named_by_bytes(coco_file)]

    [yolo_file] = _export("cars", "yolo", tmp_path / "yolo")
    name = _named_by_bytes(yolo_file)
    assert yolo_file.parent == tmp_path / "yolo" / "train" / "images"
    assert (tmp_path / "yolo" / "train" / "labels" / f"{yolo_file.stem}.txt").is_file(), name

    [voc_file] = _export("cars", "voc", tmp_path / "voc")
    xml = ET.parse(voc_file.with_suffix(".xml")).getroot()
    assert xml.findtext("filename") == _named_by_bytes(voc_file)

    [folder_file] = _export("kinds", "folders", tmp_path / "folders")
    _named_by_bytes(folder_file)
    assert folder_file.parent.name == "red"
