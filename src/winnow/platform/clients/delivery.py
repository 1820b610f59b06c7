"""Platform clients delivering datapoints: in-process, HTTP native and HTTP reference.

All three implement ``winnow.activelearning.platform_client.PlatformClient``
and raise ``DeliveryError`` with ``retryable`` set: network errors, 5xx and
429 may succeed later; other 4xx mean the platform refused the datapoint.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx

from winnow.activelearning.datapoint import Datapoint, metadata_to_json
from winnow.activelearning.platform_client import Delivered
from winnow.errors import BatchFullError, DeliveryError, WinnowError
from winnow.platform.clients.http import HTTPClientBase, delivery_error, query, segment

if TYPE_CHECKING:
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

    def close(self) -> None:
        """Nothing to release (the Platform is closed by its owner)."""


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
