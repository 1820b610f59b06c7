"""The exception tree: statuses and the JSON body every HTTP error has."""

from __future__ import annotations

import ast
import re
from pathlib import Path

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


def _raises_anything(node: ast.ClassDef) -> bool:
    names = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
    return any(name.endswith(("Error", "Exception")) for name in names)


def test_every_exception_class_lives_in_errors() -> None:
    src = Path(errors.__file__).parent
    outside = [
        f"{path.relative_to(src)}: {node.name}"
        for path in src.rglob("*.py")
        if path != Path(errors.__file__)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef) and _raises_anything(node)
    ]
    assert outside == []


def test_the_drawing_shows_every_class_under_its_base() -> None:
    drawn: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^(\s*(?:[│ ]*[├└]── )?)(\w+Error)\s", line)
        if match is None:
            continue
        column, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= column:
            stack.pop()
        drawn[name] = stack[-1][1] if stack else ""
        stack.append((column, name))
    defined = {
        name: cls.__bases__[0].__name__ if cls is not errors.WinnowError else ""
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.WinnowError)
    }
    assert drawn == defined
