"""Platform clients delivering datapoints: in-process, HTTP native and HTTP reference.

All three implement ``winnow.activelearning.platform_client.PlatformClient``
and raise ``DeliveryError`` with ``retryable`` set: network errors, 5xx and
429 may succeed later; other 4xx mean the platform refused the datapoint.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx

from winnow.activelearning.datapoint import Datapoint, metadata_to_json
from winnow.activelearning.platform_client import Delivered
from winnow.errors import BatchFullError, DeliveryError, WinnowError
from winnow.platform.clients.http import (
    HTTPClientBase,
    delivery_error,
    message_of,
    query,
    segment,
)

if TYPE_CHECKING:
    from winnow.platform.schema import Workspace
    from winnow.platform.service import Platform

DELIVERY_TIMEOUT = 30.0


class InProcessPlatformClient:
    """Delivers straight into a Platform of the same process: no HTTP hop."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def deliver(self, datapoint: Datapoint) -> str:
        """Register the datapoint; returns the image id."""
        try:
            workspace = self.platform.workspace(datapoint.api_key)
            result = self.platform.register(
                workspace=workspace,
                project=datapoint.project,
                data=datapoint.image_jpeg,
                datapoint=datapoint.metadata,
                trusted=True,  # the collector in this process encoded this JPEG
            )
        except WinnowError as exc:
            retryable = exc.status >= 500 or exc.status == 429
            raise DeliveryError(
                f"platform refused the datapoint: {exc.message}",
                retryable=retryable,
                batch_full=isinstance(exc, BatchFullError),
            ) from exc
        except Exception as exc:  # database or blob store trouble: try again later
            raise DeliveryError(f"platform error: {exc}", retryable=True) from exc
        return Delivered(str(result.image.id), duplicate=result.duplicate)

    def deliver_many(self, datapoints: Sequence[Datapoint]) -> list[str | DeliveryError]:
        """Register every datapoint in one platform transaction; per datapoint its id or error.

        Idempotent per datapoint by its ``idempotency_key``, as :meth:`deliver`.
        """
        from winnow.platform.service import RegisterItem

        results: list[str | DeliveryError | None] = [None] * len(datapoints)
        items: list[RegisterItem] = []
        places: list[int] = []
        workspaces: dict[str, Workspace | DeliveryError] = {}
        for i, dp in enumerate(datapoints):
            if dp.api_key not in workspaces:
                try:
                    workspaces[dp.api_key] = self.platform.workspace(dp.api_key)
                except Exception as exc:
                    workspaces[dp.api_key] = _delivery_error(exc)
            workspace = workspaces[dp.api_key]
            if isinstance(workspace, DeliveryError):
                results[i] = workspace
                continue
            items.append(
                RegisterItem(
                    workspace=workspace,
                    project=dp.project,
                    data=dp.image_jpeg,
                    datapoint=dp.metadata,
                    trusted=True,  # the collection of this node encoded or checked this JPEG
                )
            )
            places.append(i)
        try:
            registered = self.platform.register_many(items)
        except Exception as exc:  # the transaction failed: nothing stored, every one retried
            error = _delivery_error(exc)
            registered = [error] * len(items)
        for i, result in zip(places, registered, strict=True):
            if isinstance(result, Exception):
                results[i] = (
                    result if isinstance(result, DeliveryError) else _delivery_error(result)
                )
            else:
                results[i] = Delivered(str(result.image.id), duplicate=result.duplicate)
        return [
            r if r is not None else DeliveryError("not delivered", retryable=True) for r in results
        ]

    def close(self) -> None:
        """Nothing to release (the Platform is closed by its owner)."""


def _delivery_error(exc: BaseException) -> DeliveryError:
    """The DeliveryError of a platform exception: 5xx and 429 retryable, other 4xx not."""
    if isinstance(exc, WinnowError):
        retryable = exc.status >= 500 or exc.status == 429
        return DeliveryError(
            f"platform refused the datapoint: {exc.message}",
            retryable=retryable,
            batch_full=isinstance(exc, BatchFullError),
        )
    return DeliveryError(f"platform error: {exc}", retryable=True)


class NativeHTTPPlatformClient(HTTPClientBase):
    """Delivers with one ``POST /v1/projects/{project}/datapoints`` per datapoint."""

    TIMEOUT = DELIVERY_TIMEOUT

    def deliver(self, datapoint: Datapoint) -> str:
        """Register the datapoint atomically and idempotently; returns the image id."""
        # The codec's object; the prediction goes as a part of its own (the route's contract).
        data = {"metadata": json.dumps(metadata_to_json(datapoint, prediction=False))}
        if datapoint.prediction is not None:
            data["prediction"] = json.dumps(datapoint.prediction)
        try:
            response = self.client.post(
                f"/v1/projects/{segment(datapoint.project)}/datapoints",
                headers={"Authorization": f"Bearer {datapoint.api_key}"},
                data=data,
                files={
                    "file": (f"{datapoint.idempotency_key}.jpg", datapoint.image_jpeg, "image/jpeg")
                },
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"platform unreachable: {exc}", retryable=True) from exc
        if response.status_code >= 400:
            raise delivery_error(response, "datapoint registration")
        body = response.json()
        return Delivered(str(body["id"]), duplicate=bool(body.get("duplicate")))

    BATCH_MAX = 32
    BATCH_BYTES = 8 * 1024 * 1024

    def deliver_many(self, datapoints: Sequence[Datapoint]) -> list[str | DeliveryError]:
        """Deliver with one ``POST /v1/projects/{project}/datapoints/batch`` per API key and
        project (at most ``BATCH_MAX`` datapoints, about ``BATCH_BYTES``, a request).

        Per datapoint its id or its ``DeliveryError``, idempotent by key as
        :meth:`deliver`. A platform without the batch route (404, 405) or one
        refusing the size (413) is spoken to one datapoint at a time.
        """
        results: list[str | DeliveryError | None] = [None] * len(datapoints)
        for chunk in _chunks(datapoints, self.BATCH_MAX, self.BATCH_BYTES):
            sent = self._batch([datapoints[i] for i in chunk]) if self._batch_route else None
            if sent is None:
                sent = [self._one(datapoints[i]) for i in chunk]
            for i, result in zip(chunk, sent, strict=True):
                results[i] = result
        return [
            r if r is not None else DeliveryError("not delivered", retryable=True) for r in results
        ]

    _batch_route = True

    def _one(self, datapoint: Datapoint) -> str | DeliveryError:
        try:
            return self.deliver(datapoint)
        except DeliveryError as exc:
            return exc

    def _batch(self, datapoints: list[Datapoint]) -> list[str | DeliveryError] | None:
        """One batch request; None when the platform cannot take it (then one by one)."""
        first = datapoints[0]
        described = [
            {"metadata": metadata_to_json(dp, prediction=False), "prediction": dp.prediction}
            for dp in datapoints
        ]
        files = [
            (f"file{i}", (f"{dp.idempotency_key}.jpg", dp.image_jpeg, "image/jpeg"))
            for i, dp in enumerate(datapoints)
        ]
        try:
            response = self.client.post(
                f"/v1/projects/{segment(first.project)}/datapoints/batch",
                headers={"Authorization": f"Bearer {first.api_key}"},
                data={"datapoints": json.dumps(described)},
                files=files,
            )
        except httpx.HTTPError as exc:
            error = DeliveryError(f"platform unreachable: {exc}", retryable=True)
            return [error] * len(datapoints)
        if response.status_code == 405 or (
            response.status_code == 404 and message_of(response) == "Not Found"
        ):
            # No such route (an older platform), not an unknown project: one datapoint a
            # request from now on.
            self._batch_route = False
            return None
        if response.status_code == 413:
            return None
        if response.status_code >= 400:
            error = delivery_error(response, "datapoint batch registration")
            return [error] * len(datapoints)
        answers = response.json().get("results")
        if not isinstance(answers, list) or len(answers) != len(datapoints):
            error = DeliveryError(
                "datapoint batch: the platform's answer is malformed", retryable=True
            )
            return [error] * len(datapoints)
        out: list[str | DeliveryError] = []
        for answer in answers:
            refused = answer.get("error")
            if refused is None:
                out.append(Delivered(str(answer["id"]), duplicate=bool(answer.get("duplicate"))))
                continue
            status = int(refused.get("status", 500))
            out.append(
                DeliveryError(
                    f"datapoint registration failed with {status}: {refused.get('message')}",
                    retryable=status >= 500 or status == 429,
                    batch_full=refused.get("reason") == "batch_full",
                )
            )
        return out


def _chunks(datapoints: Sequence[Datapoint], most: int, max_bytes: int) -> list[list[int]]:
    """Indexes of ``datapoints`` grouped by (API key, project), each group cut at ``most``
    datapoints or about ``max_bytes`` of images."""
    groups: dict[tuple[str, str], list[list[int]]] = {}
    sizes: dict[tuple[str, str], int] = {}
    for i, dp in enumerate(datapoints):
        key = (dp.api_key, dp.project)
        chunks = groups.setdefault(key, [[]])
        size = len(dp.image_jpeg)
        if chunks[-1] and (len(chunks[-1]) >= most or sizes[key] + size > max_bytes):
            chunks.append([])
            sizes[key] = 0
        chunks[-1].append(i)
        sizes[key] = sizes.get(key, 0) + size
    return [chunk for chunks in groups.values() for chunk in chunks]


class ReferenceHTTPPlatformClient(HTTPClientBase):
    """Delivers to any platform speaking the reference API: upload, then annotate.

    A duplicate upload answer counts as success (the bytes are there); the
    annotation is still sent, and a 409 (already annotated) counts as success
    too, so redelivery after a failed annotate completes the datapoint.
    """

    TIMEOUT = DELIVERY_TIMEOUT

    def deliver(self, datapoint: Datapoint) -> str:
        """Upload the image, then its prediction as a pre-annotation; returns the image id."""
        params = [("api_key", datapoint.api_key), ("batch", datapoint.batch_name)]
        if datapoint.inference_id:
            params.append(("inference_id", datapoint.inference_id))
        params.extend(("tag", tag) for tag in datapoint.tags)
        local_id = datapoint.idempotency_key
        try:
            response = self.client.post(
                f"/dataset/{segment(datapoint.project)}/upload?{query(params)}",
                data={"name": f"{local_id}.jpg"},
                files={"file": ("imageToUpload", datapoint.image_jpeg, "image/jpeg")},
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"platform unreachable: {exc}", retryable=True) from exc
        if response.status_code >= 400:
            raise delivery_error(response, "image upload")
        body = response.json()
        if not (body.get("success") or body.get("duplicate")) or "id" not in body:
            raise DeliveryError(f"image upload rejected: {body}", retryable=False)
        image_id = str(body["id"])
        if datapoint.prediction is not None and not datapoint.prediction.get("is_stub"):
            self._annotate(datapoint, image_id)
        # The reference answers "duplicate" for a replay of this very upload too;
        # the delivery worker only trusts it on a first attempt.
        return Delivered(image_id, duplicate=bool(body.get("duplicate")))

    def _annotate(self, datapoint: Datapoint, image_id: str) -> None:
        prediction = datapoint.prediction or {}
        if datapoint.task_type == "classification" and isinstance(prediction.get("top"), str):
            content, kind = prediction["top"], "txt"
        else:
            content, kind = json.dumps(prediction), "json"
        params = [
            ("api_key", datapoint.api_key),
            ("name", f"{datapoint.idempotency_key}.{kind}"),
            ("prediction", "true"),
        ]
        try:
            response = self.client.post(
                f"/dataset/{segment(datapoint.project)}/annotate/{segment(image_id)}?{query(params)}",
                content=content.encode("utf-8"),
                headers={"Content-Type": "text/plain"},
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"platform unreachable: {exc}", retryable=True) from exc
        if response.status_code == 409:
            return
        if response.status_code >= 400:
            raise delivery_error(response, "annotation upload")
