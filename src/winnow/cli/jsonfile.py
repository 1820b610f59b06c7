"""Reading a JSON file named on the command line, with one-line errors.

Every problem (unreadable, not UTF-8, not JSON, nested past Python's recursion
limit) is a :class:`~winnow.errors.BadRequestError` naming the file, which the
CLI prints as one ``error:`` line; never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from winnow.errors import BadRequestError


def read_json(file: str | Path) -> Any:
    """The parsed contents of ``file`` (``-``: standard input)."""
    name = "<stdin>" if str(file) == "-" else str(file)
    try:
        text = sys.stdin.read() if str(file) == "-" else Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError(
            f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise BadRequestError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequestError(
            f"{name}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except ValueError as exc:  # an integer of over 4300 digits
        raise BadRequestError(f"{name}: not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequestError(f"{name}: JSON nested too deeply") from None
