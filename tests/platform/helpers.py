"""Small builders shared by the platform tests."""

from __future__ import annotations

from typing import Any

from winnow.platform import store
from winnow.platform.schema import Workspace
from winnow.platform.service import DatapointInput, Platform

AL_CONFIG: dict[str, Any] = {
    "enabled": True,
    "persist_predictions": True,
    "sampling_strategies": [{"name": "rand", "type": "random", "traffic_percentage": 0.5}],
    "batching_strategy": {"batches_name_prefix": "al", "recreation_interval": "daily"},
}


def detection(
    width: int = 64, height: int = 48, classes: tuple[str, ...] = ("car",)
) -> dict[str, Any]:
    """A reference-shaped object detection prediction."""
    return {
        "image": {"width": width, "height": height},
        "predictions": [
            {
                "x": 10.0 + i,
                "y": 12.0,
                "width": 8.0,
                "height": 6.0,
                "confidence": 0.9,
                "class": name,
                "class_id": i,
                "detection_id": f"d{i}",
            }
            for i, name in enumerate(classes)
        ],
    }


def capped_config(cap: int) -> dict[str, Any]:
    """The test configuration with ``max_batch_images`` set."""
    config = dict(AL_CONFIG)
    config["batching_strategy"] = {**AL_CONFIG["batching_strategy"], "max_batch_images": cap}
    return config


def workspace_with_key(platform: Platform, name: str) -> tuple[Workspace, str]:
    """A new workspace and its key."""
    with platform.db.write() as session:
        workspace = store.create_workspace(session=session, name=name)
        _record, key = store.create_api_key(session=session, workspace=workspace)
    return workspace, key


def new_project(
    platform: Platform, workspace: Workspace, name: str, type: str = "object-detection"
) -> None:
    """Create a project."""
    with platform.db.write() as session:
        store.create_project(session=session, workspace=workspace, name=name, type=type)


def set_config(
    platform: Platform, workspace: Workspace, project: str, config: dict[str, Any]
) -> int:
    """Save a configuration version; returns its number."""
    with platform.db.write() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        return store.save_al_config(
            session=session, project=target, config=config, created_by="test"
        ).version


def datapoint(batch: str = "b1", **kwargs: Any) -> DatapointInput:
    """A DatapointInput with defaults."""
    return DatapointInput(batch_name=batch, **kwargs)
