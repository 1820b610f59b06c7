"""Contract suite of the store, run on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.factories import (
    AL_CONFIG,
    KEY,
    capped_config,
    make_datapoint_input,
    make_detections_json,
    make_jpeg,
    new_project,
    set_config,
    workspace_with_key,
)
from winnow.errors import (
    BadRequestError,
    BatchFullError,
    ConflictError,
    InvalidAnnotationError,
    InvalidConfigError,
    NotFoundError,
    UnauthorizedError,
)
from winnow.platform import store
from winnow.platform.service import Platform


def test_bootstrap_key_resolves_to_default_workspace(platform: Platform) -> None:
    assert platform.bootstrap_key == KEY
    assert platform.workspace(KEY).name == "default"
    with pytest.raises(UnauthorizedError):
        platform.workspace("not-a-key-at-all")
    with pytest.raises(UnauthorizedError):
        platform.workspace(None)


def test_keys_are_stored_hashed_and_revocable(platform: Platform) -> None:
    workspace, key = workspace_with_key(platform, "acme")
    with platform.db.read() as session:
        keys = store.list_api_keys(session=session, workspace=workspace)
    assert len(keys) == 1
    assert keys[0].prefix == key[:6]
    assert key.encode() not in keys[0].key_hash
    assert platform.workspace(key).name == "acme"
    with platform.db.write() as session:
        store.revoke_api_key(session=session, workspace=workspace, key_id=keys[0].id)
    with pytest.raises(UnauthorizedError):
        platform.workspace(key)


def test_workspace_names_are_unique_and_checked(platform: Platform) -> None:
    workspace_with_key(platform, "acme")
    with pytest.raises(ConflictError), platform.db.write() as session:
        store.create_workspace(session=session, name="acme")
    with pytest.raises(BadRequestError), platform.db.write() as session:
        store.create_workspace(session=session, name="-bad name")
    with pytest.raises(BadRequestError, match="reserved"), platform.db.write() as session:
        store.create_workspace(session=session, name="v1")


def test_project_names_unique_per_workspace_and_types_checked(platform: Platform) -> None:
    default = platform.workspace(KEY)
    other, _ = workspace_with_key(platform, "other")
    new_project(platform, "cars", workspace=default)
    new_project(platform, "cars", workspace=other)  # same name, other workspace: fine
    with pytest.raises(ConflictError):
        new_project(platform, "cars", workspace=default)
    with pytest.raises(BadRequestError, match="type"):
        new_project(platform, "boats", type="segmentation", workspace=default)
    with platform.db.read() as session:
        assert [p.name for p in store.list_projects(session=session, workspace=default)] == ["cars"]
        with pytest.raises(NotFoundError):
            store.get_project(session=session, workspace=default, name="nope")


def test_al_config_versions_are_kept_and_newest_is_in_force(platform: Platform) -> None:
    default = platform.workspace(KEY)
    new_project(platform, "cars", workspace=default)
    assert set_config(platform, default, "cars", AL_CONFIG) == 1
    assert set_config(platform, default, "cars", capped_config(5)) == 2
    with platform.db.read() as session:
        project = store.get_project(session=session, workspace=default, name="cars")
        current = store.get_al_config(session=session, project=project)
        history = store.list_al_config_versions(session=session, project=project)
    assert current is not None and current.version == 2
    assert current.config["batching_strategy"]["max_batch_images"] == 5
    assert [h.version for h in history] == [2, 1]
    assert history[0].created_by == "test"


def test_invalid_al_config_is_refused_with_field_paths(platform: Platform) -> None:
    default = platform.workspace(KEY)
    new_project(platform, "cars", workspace=default)
    bad = dict(AL_CONFIG, jpeg_compression_level=500)
    with pytest.raises(InvalidConfigError) as info:
        set_config(platform, default, "cars", bad)
    assert any(e.startswith("jpeg_compression_level") for e in info.value.errors)
    with platform.db.read() as session:
        project = store.get_project(session=session, workspace=default, name="cars")
        assert store.get_al_config(session=session, project=project) is None


def test_register_stores_provenance_tags_and_prediction(platform: Platform) -> None:
    default = platform.workspace(KEY)
    new_project(platform, "cars", workspace=default)
    result = platform.register(
        workspace=default,
        project="cars",
        data=make_jpeg(64, 48),
        datapoint=make_datapoint_input(
            tags=("a", "b:c", "a"),
            prediction=make_detections_json(
                [[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"]
            ),
            strategy="rand",
            model_id="cars/3",
            inference_id="inf-1",
            source="stream:cam1",
            config_version=7,
            idempotency_key="k1",
        ),
    )
    assert not result.duplicate and not result.replayed
    details = platform.image_details(default, str(result.image.id))
    assert details["tags"] == ["a", "b:c"]
    assert (details["width"], details["height"]) == (64, 48)
    assert details["strategy"] == "rand"
    assert details["model_id"] == "cars/3"
    assert details["inference_id"] == "inf-1"
    assert details["source"] == "stream:cam1"
    assert details["config_version"] == 7
    assert details["batch"] == "b1"
    [annotation] = details["annotations"]
    assert annotation["kind"] == "prediction"
    assert annotation["body"]["predictions"][0]["class"] == "car"
    data, content_type = platform.image_file(default, str(result.image.id))
    assert data == make_jpeg(64, 48) and content_type == "image/jpeg"


def test_same_idempotency_key_twice_stores_once(platform: Platform) -> None:
    default = platform.workspace(KEY)
    new_project(platform, "cars", workspace=default)
    first = platform.register(
        workspace=default,
        project="cars",
        data=make_jpeg(seed=1),
        datapoint=make_datapoint_input(idempotency_key="k"),
    )
    again = platform.register(
        workspace=default,
        project="cars",
        data=make_jpeg(seed=1),
        datapoint=make_datapoint_input(idempotency_key="k"),
    )
    assert again.replayed and again.image.id == first.image.id
    with platform.db.read() as session:
        project = store.get_project(session=session, workspace=default, name="cars")
        images, _ = store.list_images(session=session, project=project)
        [batch] = store.list_batches(session=session, project=project)
    assert len(images) == 1 and batch.images == 1
    blobs = list((platform.settings.data_dir / "blobs").rglob("*.jpg"))
    assert len(blobs) == 1  # the replay's blob was removed again


def test_same_bytes_are_a_duplicate_within_a_project(platform: Platform) -> None:
    default = platform.workspace(KEY)
    new_project(platform, "cars", workspace=default)
    new_project(platform, "bikes", workspace=default)
    first = platform.register(
        workspace=default, project="cars", data=make_jpeg(seed=2), datapoint=make_datapoint_input()
    )
    dup = platform.register(
        workspace=default,
        project="cars",
        data=make_jpeg(seed=2),
        datapoint=make_datapoint_input("b2"),
    )
    other = platform.register(
        workspace=default, project="bikes", data=make_jpeg(seed=2), datapoint=make_datapoint_input()
    )
    assert dup.duplicate and dup.image.id == first.image.id
    assert not other.duplicate and other.image.id != first.image.id


def test_batch_cap_is_exact(platform: Platform) -> None:
    default = platform.workspace(KEY)
    new_project(platform, "cars", workspace=default)
    set_config(platform, default, "cars", capped_config(3))
    for seed in range(3):
        platform.register(
            workspace=default,
            project="cars",
            data=make_jpeg(seed=seed),
            datapoint=make_datapoint_input(),
        )
    with pytest.raises(BatchFullError, match="max_batch_images is 3"):
        platform.register(
            workspace=default,
            project="cars",
            data=make_jpeg(seed=9),
            datapoint=make_datapoint_input(),
        )
    platform.register(
        workspace=default,
        project="cars",
        data=make_jpeg(seed=9),
        datapoint=make_datapoint_input("b2"),
    )
    blobs = list((platform.settings.data_dir / "blobs").rglob("*.jpg"))
    assert len(blobs) == 4  # the refused datapoint left no blob behind


def test_bad_prediction_stores_nothing(platform: Platform) -> None:
    default = platform.workspace(KEY)
    new_project(platform, "cars", workspace=default)
    with pytest.raises(InvalidAnnotationError):
        platform.register(
            workspace=default,
            project="cars",
            data=make_jpeg(),
            datapoint=make_datapoint_input(prediction={"predictions": "nope"}),
        )
    with platform.db.read() as session:
        project = store.get_project(session=session, workspace=default, name="cars")
        assert store.list_images(session=session, project=project)[0] == []
    assert not list((platform.settings.data_dir / "blobs").rglob("*.jpg"))


def test_list_images_filters_and_pages(platform: Platform) -> None:
    default = platform.workspace(KEY)
    new_project(platform, "cars", workspace=default)
    for seed in range(7):
        platform.register(
            workspace=default,
            project="cars",
            data=make_jpeg(seed=seed),
            datapoint=make_datapoint_input(
                "even" if seed % 2 == 0 else "odd",
                tags=("t-even",) if seed % 2 == 0 else ("t-odd",),
                strategy="s1" if seed < 3 else "s2",
            ),
        )
    with platform.db.read() as session:
        project = store.get_project(session=session, workspace=default, name="cars")
        seen: list[int] = []
        cursor = None
        while True:
            page, cursor = store.list_images(
                session=session, project=project, limit=3, cursor=cursor
            )
            seen.extend(i.id for i in page)
            if cursor is None:
                break
        assert len(seen) == 7 and seen == sorted(seen)
        by_batch, _ = store.list_images(
            session=session, project=project, filters=store.ImageFilters(batch="even")
        )
        by_tag, _ = store.list_images(
            session=session, project=project, filters=store.ImageFilters(tag="t-odd")
        )
        by_strategy, _ = store.list_images(
            session=session, project=project, filters=store.ImageFilters(strategy="s1", batch="odd")
        )
        by_status, _ = store.list_images(
            session=session, project=project, filters=store.ImageFilters(status="labeled")
        )
        assert len(by_batch) == 4 and len(by_tag) == 3 and len(by_strategy) == 1 and by_status == []
        with pytest.raises(BadRequestError, match="cursor"):
            store.list_images(session=session, project=project, cursor="abc")
        with pytest.raises(NotFoundError):
            store.list_images(
                session=session, project=project, filters=store.ImageFilters(batch="nope")
            )


def test_human_annotation_marks_image_labeled(platform: Platform) -> None:
    default = platform.workspace(KEY)
    new_project(platform, "signs", type="classification", workspace=default)
    result = platform.register(
        workspace=default, project="signs", data=make_jpeg(), datapoint=make_datapoint_input()
    )
    image_id = str(result.image.id)
    platform.annotate(
        workspace=default,
        project="signs",
        image_id=image_id,
        body="stop",
        name="x.txt",
        prediction=False,
    )
    details = platform.image_details(default, image_id)
    assert details["status"] == "labeled"
    assert details["annotations"][0]["body"] == "stop"
    with pytest.raises(InvalidAnnotationError):
        platform.annotate(
            workspace=default,
            project="signs",
            image_id=image_id,
            body="a\nb",
            name="x.txt",
            prediction=False,
        )


def test_images_of_another_workspace_are_not_found(platform: Platform) -> None:
    default = platform.workspace(KEY)
    other, _ = workspace_with_key(platform, "other")
    new_project(platform, "cars", workspace=default)
    result = platform.register(
        workspace=default, project="cars", data=make_jpeg(), datapoint=make_datapoint_input()
    )
    with pytest.raises(NotFoundError):
        platform.image_details(other, str(result.image.id))
    with pytest.raises(NotFoundError):
        platform.image_file(other, str(result.image.id))


def test_model_versions_round_trip(platform: Platform) -> None:
    default = platform.workspace(KEY)
    new_project(platform, "cars", workspace=default)
    _project, record = platform.add_model(
        workspace=default, model_id="cars/1", data=b"onnx-bytes", class_names=["car", "bus"]
    )
    assert record.task_type == "object-detection" and record.size_bytes == 10
    assert platform.model_file(default, "cars", 1) == b"onnx-bytes"
    with pytest.raises(ConflictError):
        platform.add_model(workspace=default, model_id="cars/1", data=b"other")
    assert platform.model_file(default, "cars", 1) == b"onnx-bytes"
    with pytest.raises(NotFoundError, match="cars/2"):
        platform.model_version(default, "cars", 2)
    with pytest.raises(BadRequestError, match="model_id"):
        platform.add_model(workspace=default, model_id="cars", data=b"x")
    with pytest.raises(BadRequestError, match="task_type"):
        platform.add_model(
            workspace=default, model_id="cars/3", data=b"x", task_type="classification"
        )


def test_failure_after_rows_are_written_leaves_nothing(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = platform.workspace(KEY)
    new_project(platform, "cars", workspace=default)
    real = store.register_datapoint

    def fail_late(**kwargs: object) -> store.RegisterResult:
        real(**kwargs)  # type: ignore[arg-type]
        raise RuntimeError("disk full while committing")

    monkeypatch.setattr(store, "register_datapoint", fail_late)
    with pytest.raises(RuntimeError):
        platform.register(
            workspace=default,
            project="cars",
            data=make_jpeg(),
            datapoint=make_datapoint_input(
                prediction=make_detections_json(
                    [[10.0, 12.0, 8.0, 6.0]], class_name=["car"], detection_id=["d0"]
                ),
                tags=("a",),
                idempotency_key="k",
            ),
        )
    monkeypatch.undo()
    with platform.db.read() as session:
        project = store.get_project(session=session, workspace=default, name="cars")
        assert store.list_images(session=session, project=project)[0] == []
        assert store.list_batches(session=session, project=project) == []
    assert not list((platform.settings.data_dir / "blobs").rglob("*.jpg"))
    # ...and the same datapoint goes through afterwards.
    result = platform.register(
        workspace=default,
        project="cars",
        data=make_jpeg(),
        datapoint=make_datapoint_input(idempotency_key="k"),
    )
    assert not result.replayed and not result.duplicate
