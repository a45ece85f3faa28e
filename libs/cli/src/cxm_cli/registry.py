"""Services are found through the `cxm.services` entry points, so the CLI never imports one directly."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the service runtime is heavy to import; commands that need no service stay quick
    from cxm_common.service import ServiceSpec

# Start order: producers before their consumers, the gateway last.
ORDER = ("ingest", "insight", "journey", "actions", "gateway")


def services() -> dict[str, ServiceSpec]:
    """Return every installed service's spec, in start order."""
    found = {ep.name: ep.load() for ep in entry_points(group="cxm.services")}
    ordered = [name for name in ORDER if name in found] + sorted(set(found) - set(ORDER))
    return {name: found[name] for name in ordered}


def service(name: str) -> ServiceSpec:
    """Return one service's spec, or raise KeyError naming the installed ones."""
    found = services()
    if name not in found:
        raise KeyError(f"unknown service {name!r}; installed: {', '.join(found)}")
    return found[name]
