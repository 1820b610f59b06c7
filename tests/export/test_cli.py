"""``winnow export`` writes the same dataset as the API, with a progress bar."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import supervision as sv
from typer.testing import CliRunner

from tests.factories import KEY, add_image, make_boxes_json, new_project
from winnow.cli.main import app
from winnow.platform.service import Platform
from winnow.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("WINNOW_DATA_DIR", str(root))
    monkeypatch.setenv("WINNOW_API_KEY", KEY)
    platform = Platform.open(Settings(data_dir=root, api_key=KEY))
    new_project(platform, "cars")
    for i in range(5):
        image_id = add_image(
            platform,
            "cars",
            seed=i,
            predictions=make_boxes_json([[100, 80, 40, 30]], class_name=["car"], confidence=[0.6]),
        )
        with platform.db.write() as session:
            from winnow.platform.schema import Image

            image = session.get(Image, image_id)
            assert image is not None
            image.status = "labeled" if i < 4 else "unlabeled"
    platform.close()
    return root


def test_export_yolo_folder_is_read_by_supervision(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["export", "cars", "--format", "yolo", "--out", str(out), "--split", "1,0,0"]
    )
    assert result.exit_code == 0, result.output
    assert "4 images, 1 classes" in result.output
    assert "exporting" in result.output
    ds = sv.DetectionDataset.from_yolo(
        str(out / "train" / "images"), str(out / "train" / "labels"), str(out / "data.yaml")
    )
    assert len(ds) == 4
    for _path, _image, det in ds:
        assert det.xyxy.tolist()[0] == pytest.approx([80, 65, 120, 95], abs=0.01)


def test_export_zip_and_errors(data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "cars.zip"
    result = CliRunner().invoke(
        app, ["export", "cars", "-f", "voc", "-o", str(target), "--zip", "--status", "unlabeled"]
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        assert len([n for n in archive.namelist() if n.endswith(".xml")]) == 1
    missing = CliRunner().invoke(app, ["export", "boats", "-o", str(tmp_path / "x")])
    assert missing.exit_code == 1 and "boats" in missing.output
    bad = CliRunner().invoke(app, ["export", "cars", "-o", str(tmp_path / "x"), "--split", "1,2"])
    assert bad.exit_code == 1 and "split" in bad.output
