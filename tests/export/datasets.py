"""Sample export datasets: images with boxes, polygons, keypoints and class labels."""

from __future__ import annotations

from winnow.platform.export import (
    Box,
    ClassLabel,
    ExportImage,
    KeypointObject,
    Polygon,
    Split,
)


def detection_images() -> list[ExportImage]:
    """Three images with boxes, split across train/valid/test."""
    return [
        ExportImage(
            "a.jpg",
            320,
            240,
            (Box("cat", 10, 20, 110, 140), Box("dog", 200, 30, 300, 230)),
            Split.TRAIN,
        ),
        ExportImage("b.jpg", 160, 120, (Box("dog", 0, 0, 80, 60),), Split.TRAIN),
        ExportImage("c.jpg", 200, 100, (Box("cat", 50.5, 10.25, 150.75, 90),), Split.VALID),
        ExportImage("d.jpg", 100, 100, (), Split.TEST),
    ]


def segmentation_images() -> list[ExportImage]:
    """Two images with polygons."""
    return [
        ExportImage(
            "s1.jpg",
            200,
            200,
            (Polygon("leaf", ((10, 10), (110, 10), (110, 60), (10, 60))),),
            Split.TRAIN,
        ),
        ExportImage(
            "s2.jpg",
            100,
            80,
            (Polygon("stem", ((20, 20), (60, 20), (40, 70))),),
            Split.TRAIN,
        ),
    ]


def keypoint_images() -> list[ExportImage]:
    """One image with a three-keypoint object (one point not labeled)."""
    return [
        ExportImage(
            "k1.jpg",
            200,
            100,
            (
                KeypointObject(
                    Box("person", 20, 10, 120, 90), ((30, 20, 2), (60, 50, 1), (0, 0, 0))
                ),
            ),
            Split.TRAIN,
        )
    ]


def classification_images() -> list[ExportImage]:
    """Images with single and multiple class labels."""
    return [
        ExportImage("x1.jpg", 50, 50, (ClassLabel("cat"),), Split.TRAIN),
        ExportImage("x2.jpg", 50, 50, (ClassLabel("dog"), ClassLabel("cat")), Split.VALID),
        ExportImage("x3.jpg", 50, 50, (), Split.TRAIN),
    ]
