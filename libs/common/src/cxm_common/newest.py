"""Fields that one aggregate's events set piecemeal, kept at their newest value whatever order the events arrive in.

Consumers rely on `aggregate_version`, never on arrival order: with several relays, or a redelivery overtaking a
later event, `customer.updated` v3 may be applied before v2. Each field remembers the version that last set it, so
an older event changes only the fields no newer event has set. A reset (an erasure) at version v outranks every
older change of every field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EVERY_FIELD = "*"


def merge(
    current: Mapping[str, Any], versions: Mapping[str, int], changes: Mapping[str, Any], version: int
) -> tuple[dict[str, Any], dict[str, int]]:
    """`current` with the `changes` an event of aggregate `version` made, and the fields' versions after it."""
    floor = versions.get(EVERY_FIELD, 0)
    merged, seen = dict(current), dict(versions)
    for name, value in changes.items():
        if version > max(floor, versions.get(name, 0)):
            merged[name] = value
            seen[name] = version
    return merged, seen


def reset(versions: Mapping[str, int], version: int) -> dict[str, int]:
    """The versions after every field was cleared at `version` (older changes arriving later are ignored)."""
    return {EVERY_FIELD: max(version, versions.get(EVERY_FIELD, 0))}
