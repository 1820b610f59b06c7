"""The exception tree: statuses and the JSON body every HTTP error has."""

from __future__ import annotations

import pytest

from winnow import errors


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.BadRequestError, 400),
        (errors.InvalidImageError, 400),
        (errors.ForbiddenURLError, 400),
        (errors.UnauthorizedError, 401),
        (errors.NotFoundError, 404),
        (errors.ConflictError, 409),
        (errors.BatchFullError, 409),
        (errors.PayloadTooLargeError, 413),
        (errors.UnprocessableError, 422),
        (errors.ServiceUnavailableError, 503),
    ],
)
def test_each_http_error_carries_its_status(cls: type[errors.WinnowError], status: int) -> None:
    err = cls("what is wrong")
    assert err.status == status
    extra = {"reason": "batch_full"} if cls is errors.BatchFullError else {}
    assert err.to_json() == {"message": "what is wrong", **extra}
    assert isinstance(err, errors.WinnowError)


def test_invalid_config_lists_every_problem() -> None:
    err = errors.InvalidConfigError(["a.b: must be > 0", "c: unknown field"])
    assert err.status == 400
    body = err.to_json()
    assert body["errors"] == ["a.b: must be > 0", "c: unknown field"]
    assert "a.b: must be > 0" in body["message"] and "c: unknown field" in body["message"]


def test_delivery_error_says_whether_to_retry() -> None:
    assert errors.DeliveryError("down", retryable=True).retryable
    assert not errors.DeliveryError("refused", retryable=False).retryable
