"""``winnow import``: a folder or zip into a project, a progress bar, one ``error:`` line on bad input."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.factories import KEY
from tests.importing.helpers import create_empty, det, export_to, jpeg, labeled
from winnow.cli.main import app
from winnow.platform.export.formats import ExportFormat
from winnow.platform.schema import Batch, Image
from winnow.platform.service import Platform
from winnow.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("WINNOW_DATA_DIR", str(root))
    monkeypatch.setenv("WINNOW_API_KEY", KEY)
    platform = Platform.open(Settings(data_dir=root, api_key=KEY))
    labeled(
        platform,
        "src",
        "object-detection",
        [((64, 48), [det("car", 1, 2, 30, 40)]), ((32, 32), [det("car", 0, 0, 9, 9)])],
    )
    export_to(platform, "src", ExportFormat.VOC, tmp_path / "voc", (0.5, 0.5, 0))
    create_empty(platform, "dst", "object-detection")
    platform.close()
    return root


def _stored(root: Path) -> tuple[list[Image], list[Batch]]:
    platform = Platform.open(Settings(data_dir=root, api_key=KEY))
    try:
        with platform.db.read() as session:
            images = list(session.scalars(select(Image).where(Image.source == "import")))
            batches = list(session.scalars(select(Batch).where(Batch.name.like("import%"))))
            session.expunge_all()
            return images, batches
    finally:
        platform.close()


def test_import_a_folder_with_progress_into_a_held_out_batch(
    data_dir: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["import", "dst", str(tmp_path / "voc"), "--format", "voc", "--held-out"]
    )
    assert result.exit_code == 0, result.output
    assert "checking" in result.output and "storing" in result.output
    assert "2 images into dst/import-voc (held out)" in result.output
    images, batches = _stored(data_dir)
    assert len(images) == 2 and {i.status for i in images} == {"labeled"}
    assert [(b.name, b.held_out, b.image_count) for b in batches] == [("import-voc", True, 2)]


def test_import_one_split_of_a_zip(data_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "voc.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted((tmp_path / "voc").rglob("*")):
            if path.is_file():
                out.write(path, "dataset/" + path.relative_to(tmp_path / "voc").as_posix())
    result = CliRunner().invoke(
        app, ["import", "dst", str(archive), "-f", "voc", "--split", "val", "-b", "import-val"]
    )
    assert result.exit_code == 0, result.output
    assert "1 images into dst/import-val" in result.output
    assert len(_stored(data_dir)[0]) == 1


def test_bad_input_prints_one_error_line_and_exits_1(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "coco" / "train"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(jpeg(20, 20))
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 20, "height": 20}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, -3, 4]}],
    }
    (folder / "_annotations.coco.json").write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["import", "dst", str(tmp_path / "coco"), "-f", "coco"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: train/_annotations.coco.json: annotation id 5.bbox: width and height must be >= 0"
    ]
    assert _stored(data_dir)[0] == []
    missing = CliRunner().invoke(app, ["import", "dst", str(tmp_path / "nope"), "-f", "coco"])
    assert missing.exit_code == 1
    assert "not a folder" in missing.output
