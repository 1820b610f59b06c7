"""An image's identity in the exported files: COCO ``images[].extra`` and ``metadata.jsonl``."""

from __future__ import annotations

import json

from winnow.platform.export.formats import ExportFormat, coco_json, export_files
from winnow.platform.export.model import (
    ClassLabel,
    ExportDataset,
    ExportImage,
    image_extra,
)


def test_image_extra_keeps_only_what_is_set() -> None:
    assert image_extra(None, None, [], None) is None
    assert image_extra("http", None, [], {}) == {"source": "http"}
    assert image_extra("gate-3", "relay", ("night",), {"lane": 2}) == {
        "source": "gate-3",
        "source_info": "relay",
        "tags": ["night"],
        "metadata": {"lane": 2},
    }


def _dataset() -> ExportDataset:
    return ExportDataset(
        classes=("cat", "dog"),
        images=(
            ExportImage(
                "1.jpg",
                10,
                10,
                (ClassLabel("cat"), ClassLabel("dog")),
                source="blob/1",
                extra={"source": "gate-3", "tags": ["night"]},
            ),
            ExportImage("2.jpg", 10, 10, (ClassLabel("dog"),), source="blob/2"),
        ),
    )


def test_coco_writes_extra_only_for_images_that_have_it() -> None:
    images = coco_json(_dataset())["images"]
    assert images[0]["extra"] == {"source": "gate-3", "tags": ["night"]}
    assert "extra" not in images[1]
    files = {f.path for f in export_files(_dataset(), ExportFormat.COCO)}
    assert "metadata.jsonl" not in files


def test_the_sidecar_has_one_line_per_image_file() -> None:
    files = {f.path: f for f in export_files(_dataset(), ExportFormat.FOLDERS)}
    content = files["metadata.jsonl"].content
    assert content is not None
    lines = [json.loads(line) for line in content.decode().splitlines()]
    # the multi-label image is copied into both class folders: one line per copy
    assert lines == [
        {"file_name": "train/cat/1.jpg", "source": "gate-3", "tags": ["night"]},
        {"file_name": "train/dog/1.jpg", "source": "gate-3", "tags": ["night"]},
    ]
    for line in lines:
        assert line["file_name"] in files


def test_no_sidecar_without_any_identity() -> None:
    bare = ExportDataset(("cat",), (ExportImage("1.jpg", 10, 10, (), source="blob/1"),))
    for fmt in ExportFormat:
        assert "metadata.jsonl" not in {f.path for f in export_files(bare, fmt)}
