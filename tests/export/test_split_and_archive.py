"""Deterministic splits, split parsing, and the zip writers."""

from __future__ import annotations

import io
import zipfile
from collections import Counter

import pytest

from tests.export.datasets import detection_images
from winnow.errors import BadRequestError
from winnow.platform.export import (
    ExportFormat,
    ExportImage,
    Split,
    assign_splits,
    dataset_from_images,
    export_files,
    parse_split,
)
from winnow.platform.export.archive import iter_zip, write_zip


def _images(n: int) -> list[ExportImage]:
    return [ExportImage(f"{i:04d}.jpg", 10, 10) for i in range(n)]


def test_split_is_deterministic_for_a_seed_and_independent_of_input_order() -> None:
    images = _images(100)
    first = {i.file_name: i.split for i in assign_splits(images, (0.8, 0.1, 0.1), seed=7)}
    again = {i.file_name: i.split for i in assign_splits(images[::-1], (0.8, 0.1, 0.1), seed=7)}
    other = {i.file_name: i.split for i in assign_splits(images, (0.8, 0.1, 0.1), seed=8)}
    assert first == again
    assert first != other
    assert Counter(first.values()) == {Split.TRAIN: 80, Split.VALID: 10, Split.TEST: 10}


def test_split_keeps_input_order_and_handles_rounding() -> None:
    images = _images(7)
    result = assign_splits(images, (0.7, 0.3, 0.0), seed=1)
    assert [i.file_name for i in result] == [i.file_name for i in images]
    assert Counter(i.split for i in result) == {Split.TRAIN: 5, Split.VALID: 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.8,0.1,0.1", (0.8, 0.1, 0.1)), ("70, 20, 10", (0.7, 0.2, 0.1)), ("1,0,0", (1, 0, 0))],
)
def test_parse_split_normalizes(text: str, expected: tuple[float, float, float]) -> None:
    assert parse_split(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text", ["0.8,0.2", "a,b,c", "-1,1,1", "0,0,0", "nan,nan,nan", "inf,0,0", "1e308,1e308,1e308"]
)
def test_parse_split_rejects_bad_input_naming_it(text: str) -> None:
    with pytest.raises(BadRequestError, match="split"):
        parse_split(text)


def test_zip_stream_and_zip_file_hold_the_same_files() -> None:
    dataset = dataset_from_images(detection_images())
    files = export_files(dataset, ExportFormat.YOLO)
    reads: list[str] = []

    def read(source: str) -> bytes:
        reads.append(source)
        return b"JPEG:" + source.encode()

    streamed = b"".join(iter_zip(files, read))
    buffer = io.BytesIO()
    write_zip(files, read, buffer)
    for data in (streamed, buffer.getvalue()):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.testzip() is None
            names = archive.namelist()
            assert "data.yaml" in names
            assert archive.read("train/images/a.jpg") == b"JPEG:a.jpg"
            assert archive.read("valid/labels/c.txt").startswith(b"0 ")
    assert reads.count("a.jpg") == 2
