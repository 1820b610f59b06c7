"""The one exception tree of winnow.

Every error the project raises on purpose derives from :class:`WinnowError`.
Errors that can reach an HTTP client carry their status code as a class
attribute, so routes never pick codes inline; one handler (see
``winnow.http.errors``) turns any ``WinnowError`` into ``{"message": ...}``
with that status. Anything else that escapes becomes a logged 500 with a
generic message. The ``winnow`` command turns one into ``error: <message>``
and exit code 1 (2 for a ``ConfigurationError``), in ``winnow.cli.main``.

    WinnowError                     (500) base; never raised directly
    ├── ConfigurationError          (500) the server's own settings or a command's arguments
    │                                     are wrong (start-up)
    ├── BadRequestError             (400) the request is malformed
    │   ├── InvalidImageError       (400) not a decodable image / bad base64 / too many pixels
    │   ├── InvalidConfigError      (400) an active learning configuration failed validation
    │   ├── InvalidAnnotationError  (400) an annotation does not fit the project's task type
    │   ├── ForbiddenURLError       (400) an image URL points somewhere we refuse to fetch
    │   └── PredictionFormatError   (400) JSON without the shape of any known prediction
    │                                     (also a ValueError)
    ├── UnauthorizedError           (401) missing or unknown API key
    ├── ForbiddenError              (403) refused although authenticated (e.g. cross-site form post)
    ├── NotFoundError               (404) unknown project, image, model (or another workspace's)
    ├── ConflictError               (409) state conflict, e.g. a full batch or a name in use
    │   └── BatchFullError          (409) max_batch_images reached for a batch
    ├── PayloadTooLargeError        (413) an upload or download over its size limit
    ├── UnprocessableError          (422) well-formed but semantically unusable input
    ├── ServiceUnavailableError     (503) a backend (Redis, platform, DB) cannot be reached
    ├── DeliveryError               (-)   a datapoint could not be delivered to the platform
    ├── OutboxFullError             (-)   the outbox has no room for one more datapoint
    └── StreamSourceError           (-)   a frame source cannot be opened or fails reading
"""

from __future__ import annotations

from typing import Any


class WinnowError(Exception):
    """Base of all winnow errors. ``status`` is the HTTP status it maps to."""

    status: int = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        """The JSON body a client receives: ``{"message": ...}`` plus any details."""
        body: dict[str, Any] = {"message": self.message}
        body.update(self.details)
        return body


class ConfigurationError(WinnowError):
    """Raised at start-up when the server's own settings (or a command's arguments) cannot work."""


class BadRequestError(WinnowError):
    """Raised when a request is malformed (bad field, bad value, missing part)."""

    status = 400


class InvalidImageError(BadRequestError):
    """Raised when bytes are not a decodable image, base64 is broken, or pixels exceed the cap."""


class InvalidConfigError(BadRequestError):
    """Raised when an active learning configuration fails validation.

    ``errors`` lists every problem as ``"field.path: what is wrong"``.
    """

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__(
            "invalid active learning configuration: " + "; ".join(self.errors),
            errors=self.errors,
        )


class InvalidAnnotationError(BadRequestError):
    """Raised when an annotation does not fit the project's task type."""


class ForbiddenURLError(BadRequestError):
    """Raised when an image URL resolves to an address the server refuses to fetch."""


class PredictionFormatError(BadRequestError, ValueError):
    """Raised when JSON does not have the shape of any known prediction.

    Also a ``ValueError``, so parsers that catch ``ValueError`` around JSON
    handling keep catching it.
    """


class UnauthorizedError(WinnowError):
    """Raised when the API key is missing or unknown."""

    status = 401


class ForbiddenError(WinnowError):
    """Raised when an authenticated request is refused (e.g. a cross-site form post)."""

    status = 403


class NotFoundError(WinnowError):
    """Raised for unknown resources, and for resources of another workspace."""

    status = 404


class ConflictError(WinnowError):
    """Raised when a write conflicts with stored state (name in use, already annotated)."""

    status = 409


class BatchFullError(ConflictError):
    """Raised when a batch has reached its ``max_batch_images``.

    Its JSON body carries ``"reason": "batch_full"`` so clients over HTTP can tell it
    from other conflicts.
    """

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, reason="batch_full", **details)


class PayloadTooLargeError(WinnowError):
    """Raised when an upload or a download exceeds its size limit."""

    status = 413


class UnprocessableError(WinnowError):
    """Raised for well-formed input that cannot be used (e.g. wrong task for a route)."""

    status = 422


class ServiceUnavailableError(WinnowError):
    """Raised when a backend needed to answer cannot be reached."""

    status = 503


class DeliveryError(WinnowError):
    """Raised by platform clients when a datapoint could not be delivered.

    ``retryable`` says whether trying again later may succeed (network error,
    5xx) or not (4xx other than 429: the platform refused the datapoint).
    ``batch_full``: refused because the batch reached its ``max_batch_images``.
    """

    def __init__(self, message: str, *, retryable: bool, batch_full: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.batch_full = batch_full


class OutboxFullError(WinnowError):
    """Raised when the outbox has no room (bytes bound) for one more datapoint."""


class StreamSourceError(WinnowError):
    """Raised when a frame source cannot be opened or fails while reading."""
