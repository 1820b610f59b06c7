"""The one rule for strategy names, used by the configuration and by the platform.

A strategy name travels far: into Redis keys, Prometheus labels, outbox rows,
the ``strategy`` field of every datapoint the platform stores, and the web
UI's filters. The configuration refuses, when it is saved, every name the
platform would later refuse, so nothing is collected that cannot be
delivered (issue 10: a name with a newline spent credits on datapoints that
stayed ``failed`` in the outbox).
"""

from __future__ import annotations

MAX_LENGTH = 128
RULE = (
    f"must be 1-{MAX_LENGTH} printable characters "
    "(no control, format or line-separator characters; space is the only blank)"
)


def strategy_name_problem(value: object) -> str | None:
    """What is wrong with ``value`` as a strategy name (the :data:`RULE`), or None if nothing.

    A name is a string of 1 to :data:`MAX_LENGTH` characters for which
    ``str.isprintable()`` holds: no C0/C1 control characters, no format
    characters (zero-width ones, bidi overrides), no surrogates, private-use
    or unassigned code points, and no separators other than the ASCII space.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_LENGTH:
        return RULE
    return None if value.isprintable() else RULE


def is_strategy_name(value: object) -> bool:
    """True when ``value`` follows the :data:`RULE`."""
    return strategy_name_problem(value) is None
