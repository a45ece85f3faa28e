"""The one place that builds ingest's collaborators from the runtime."""

from __future__ import annotations

from dataclasses import dataclass

from cxm_common.crypto import KeyRing, MasterKey
from cxm_common.service import Runtime
from cxm_ingest.config import Settings
from cxm_ingest.groupcommit import GroupCommit
from cxm_ingest.handlers import Ingest
from cxm_ingest.identity import IdentityResolver


@dataclass
class IngestContext:
    """Ingest's collaborators for one process."""

    runtime: Runtime
    settings: Settings
    keyring: KeyRing
    resolver: IdentityResolver
    ingest: Ingest
    singles: GroupCommit


def build(runtime: Runtime) -> IngestContext:
    """Wire ingest from the runtime (the master key is required: ingest seals PII)."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    if not settings.master_key:
        raise RuntimeError("CXM_MASTER_KEY is required by ingest (it seals customer data)")
    master = MasterKey(settings.master_key)
    keyring = runtime.keyring or KeyRing(master)
    resolver = IdentityResolver(master.derive("cxm-customer-keys"), keyring)
    ingest = Ingest(runtime.engine, keyring, resolver)
    singles = GroupCommit(
        ingest,
        on_commit=runtime.committed,
        max_batch=settings.group_commit_max_batch,
        flushes_per_tenant=settings.group_commit_flushes_per_tenant,
        max_waiting=settings.group_commit_max_waiting,
    )
    return IngestContext(runtime, settings, keyring, resolver, ingest, singles)
