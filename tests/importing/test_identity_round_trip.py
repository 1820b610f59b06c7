"""An image's source, source_info, tags and metadata survive export then import, in every format.

COCO carries them in ``images[].extra``, the other formats in the
``metadata.jsonl`` sidecar; the import reads either back. An image without
any keeps the source ``import``. Bad entries stop the import, naming them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import KEY
from tests.importing.helpers import create_empty, det, export_to, import_from, jpeg
from winnow.errors import BadRequestError
from winnow.platform import store
from winnow.platform.export.formats import ExportFormat
from winnow.platform.service import DatapointInput, Platform
from winnow.settings import Settings

SPLIT = (0.5, 0.5, 0.0)


@pytest.fixture
def platform(import_settings: Settings) -> Iterator[Platform]:
    p = Platform.open(import_settings)
    yield p
    p.close()


IDENTITIES: list[dict[str, Any]] = [
    {"source": "gate-3", "source_info": "relay", "tags": ("night", "lane:2"), "extra": {"a": 1}},
    {"source": "dock", "source_info": None, "tags": ("day",), "extra": None},
    {"source": None, "source_info": None, "tags": (), "extra": None},
]


def _identity(image: dict[str, Any]) -> tuple[Any, ...]:
    return (image["source"], image["source_info"], tuple(image["tags"]), image["metadata"])


def _stored(platform: Platform, project: str) -> dict[str, tuple[Any, ...]]:
    """Per image (by sha256): its identity as the native API shows it."""
    workspace = platform.workspace(KEY)
    with platform.db.read() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        images, _ = store.list_images(session=session, project=target)
        return {
            i.sha256: (
                i.source,
                i.source_info,
                tuple(t.tag for t in i.tags),
                i.metadata_json,
            )
            for i in images
        }


def _source_project(platform: Platform, project: str, type_: str) -> None:
    workspace = platform.workspace(KEY)
    create_empty(platform, project, type_)
    for seed, identity in enumerate(IDENTITIES):
        result = platform.register(
            workspace=workspace,
            project=project,
            data=jpeg(64, 48, seed + 7),
            datapoint=DatapointInput(
                batch_name="b",
                source=identity["source"],
                source_info=identity["source_info"],
                tags=identity["tags"],
                extra=identity["extra"],
            ),
        )
        if "classification" in type_:
            body, name = "cat", "label.txt"
        else:
            body = json.dumps(
                {"image": {"width": 64, "height": 48}, "predictions": [det("cat", 1, 2, 30, 40)]}
            )
            name = "label.json"
        platform.annotate(
            workspace=workspace,
            project=project,
            image_id=str(result.image.id),
            body=body,
            name=name,
            prediction=False,
        )


@pytest.mark.parametrize(
    ("fmt", "type_"),
    [
        (ExportFormat.COCO, "object-detection"),
        (ExportFormat.YOLO, "object-detection"),
        (ExportFormat.VOC, "object-detection"),
        (ExportFormat.FOLDERS, "classification"),
    ],
)
def test_identity_round_trips(
    platform: Platform, tmp_path: Path, fmt: ExportFormat, type_: str
) -> None:
    _source_project(platform, "first", type_)
    before = _stored(platform, "first")
    folder = export_to(platform, "first", fmt, tmp_path / "out", SPLIT)
    assert (folder / "metadata.jsonl").exists() == (fmt is not ExportFormat.COCO)
    create_empty(platform, "second", type_)
    result = import_from(platform, "second", fmt.value, folder)
    assert result.images == 3
    after = _stored(platform, "second")
    assert set(after) == set(before)
    for sha, (source, source_info, tags, metadata) in before.items():
        # an image that had no source comes back as imported; the rest as it was
        assert after[sha] == (source or "import", source_info, tags, metadata)


def test_coco_extra_wins_over_the_sidecar(platform: Platform, tmp_path: Path) -> None:
    _source_project(platform, "first", "object-detection")
    folder = export_to(platform, "first", ExportFormat.COCO, tmp_path / "out", (1.0, 0.0, 0.0))
    doc_path = folder / "train" / "_annotations.coco.json"
    doc = json.loads(doc_path.read_text())
    gate = next(i for i in doc["images"] if i.get("extra", {}).get("source") == "gate-3")
    sidecar = [
        {"file_name": f"train/{gate['file_name']}", "source": "overridden", "source_info": "s"}
    ]
    (folder / "metadata.jsonl").write_text("".join(json.dumps(x) + "\n" for x in sidecar))
    create_empty(platform, "second", "object-detection")
    import_from(platform, "second", "coco", folder)
    stored = {v[0]: v for v in _stored(platform, "second").values()}
    assert stored["gate-3"][1] == "relay"  # COCO's own extra is kept
    assert "overridden" not in stored


@pytest.mark.parametrize(
    ("sidecar", "named"),
    [
        ("{not json\n", "metadata.jsonl: line 1: not valid JSON"),
        ('{"source": "x"}\n', "metadata.jsonl: line 1: must be a JSON object with a 'file_name'"),
        ('\n{"file_name": "FILE", "tags": ["bad tag"]}\n', ".extra.tags: 'bad tag'"),
        ('{"file_name": "FILE", "tags": "one"}\n', ".extra.tags: must be a list"),
        ('{"file_name": "FILE", "metadata": [1]}\n', ".extra.metadata: must be a JSON object"),
        ('{"file_name": "FILE", "source": "' + "s" * 129 + '"}\n', ".extra.source: must be"),
    ],
)
def test_bad_sidecar_entries_stop_the_import_naming_them(
    platform: Platform, tmp_path: Path, sidecar: str, named: str
) -> None:
    _source_project(platform, "first", "object-detection")
    folder = export_to(platform, "first", ExportFormat.YOLO, tmp_path / "out", (1.0, 0.0, 0.0))
    first = json.loads((folder / "metadata.jsonl").read_text().splitlines()[0])["file_name"]
    (folder / "metadata.jsonl").write_text(sidecar.replace("FILE", first))
    create_empty(platform, "second", "object-detection")
    with pytest.raises(BadRequestError) as caught:
        import_from(platform, "second", "yolo", folder)
    assert named in caught.value.message
    assert _stored(platform, "second") == {}
