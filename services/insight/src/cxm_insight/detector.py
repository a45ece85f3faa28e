"""The alert detector: tests the windows that new analyses touched against their baselines and raises alerts.

Windows are aligned blocks of `window_h` hours in event time, so back-dated imports are judged in the window they
belong to and a live spike is judged in the current, partial window (its exposure is what has elapsed, or the
window's total feedback for shares). A round runs in one transaction under an advisory lock: with several
replicas exactly one detector works at a time, and alert ids derive from (tenant, kind, key, window), so a
repeated round cannot raise twice.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import PendingAppend, append_many
from cxm_common.ids import deterministic_uuid
from cxm_common.projections import project
from cxm_insight import contracts as c
from cxm_insight.domain import alerts as a
from cxm_insight.domain.metrics import Tally
from cxm_insight.domain.objectives import evaluate, parse_objectives
from cxm_insight.projections import INSIGHT_READ_MODELS, TALLY_COLUMNS

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("3b0c8f02-5a4e-4a35-8f0b-6c3f3d8b1e77")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOCK = "cxm-insight-alert-detector"
OBJECTIVE_DRIFT = "objective_drift"


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """How windows are cut and how sure a detection must be."""

    window_h: int = 24
    baseline_windows: int = 28
    alpha: float = a.DEFAULT_ALPHA
    min_count: int = a.MIN_COUNT
    max_checks: int = 2000


def window_of(moment: datetime, window_h: int) -> datetime:
    """The start of the aligned window a moment falls in."""
    size = window_h * 3600
    seconds = int((moment - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=seconds - seconds % size)


class Detector:
    """Runs detection rounds."""

    def __init__(self, engine: AsyncEngine, settings: DetectorSettings, *, now: Any = None) -> None:
        self.engine = engine
        self.settings = settings
        self.now = now or (lambda: datetime.now(UTC))

    async def round(self) -> int:
        """One round: take pending checks, test them, raise alerts; return how many alerts were raised."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            pg = await driver(conn)
            if not await pg.fetchval("SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", LOCK):
                return 0
            rows = await pg.fetch(
                "DELETE FROM alert_checks WHERE ctid = ANY(ARRAY(SELECT ctid FROM alert_checks LIMIT $1)) "
                "RETURNING tenant_id, dim, key, bucket",
                self.settings.max_checks,
            )
            by_tenant: dict[uuid.UUID, set[tuple[str, str, datetime]]] = defaultdict(set)
            for r in rows:
                window = window_of(r["bucket"], self.settings.window_h)
                by_tenant[r["tenant_id"]].add((r["dim"], r["key"], window))
            raised = 0
            for tenant, checks in by_tenant.items():
                await set_tenant(conn, tenant)
                raised += await self.check_tenant(conn, tenant, checks)
            return raised

    async def check_tenant(
        self, conn: AsyncConnection, tenant: uuid.UUID, checks: set[tuple[str, str, datetime]]
    ) -> int:
        """Test one tenant's touched (dimension, key, window)s; append alerts in the caller's transaction."""
        s = self.settings
        span = timedelta(hours=s.window_h)
        windows = sorted({w for _, _, w in checks})
        keys = sorted({(dim, key) for dim, key, _ in checks} | {("all", "all")})
        earliest = windows[0] - span * s.baseline_windows
        pg = await driver(conn)
        rows = await pg.fetch(
            f"SELECT dim, key, bucket, {', '.join(TALLY_COLUMNS)} FROM metric_buckets "
            "WHERE tenant_id = $1 AND (dim, key) IN (SELECT * FROM unnest($2::text[], $3::text[])) "
            "AND bucket >= $4 AND bucket < $5",
            tenant, [d for d, _ in keys], [k for _, k in keys], earliest, windows[-1] + span,
        )  # fmt: skip
        per_window: dict[tuple[str, str, datetime], Tally] = {}
        for r in rows:
            slot = (r["dim"], r["key"], window_of(r["bucket"], s.window_h))
            tally = Tally.from_mapping({col: r[col] for col in TALLY_COLUMNS})
            per_window[slot] = per_window.get(slot, Tally()).add(tally)
        now = self.now()
        tests = max(1, len(checks))
        detections: list[tuple[a.Detection, datetime]] = []
        for dim, key, window in sorted(checks):
            baseline_starts = [window - span * (i + 1) for i in range(s.baseline_windows)]
            current = per_window.get((dim, key, window), Tally())
            baseline = [per_window.get((dim, key, w), Tally()) for w in baseline_starts]
            totals_now = per_window.get(("all", "all", window), Tally())
            totals_before = [per_window.get(("all", "all", w), Tally()) for w in baseline_starts]
            # Only windows after the tenant's first feedback count as baseline (a new tenant has no history).
            known = [i for i, t in enumerate(totals_before) if t.count > 0]
            if not known:
                continue
            first = max(known)
            baseline = baseline[: first + 1]
            totals_before = totals_before[: first + 1]
            for detection in self._tests(dim, key, window, now, current, baseline, totals_now, totals_before, tests):
                detections.append((detection, window))
        detections.extend(await self._objectives(conn, tenant))
        raised = 0
        for detection, window in detections:
            raised += await self._raise(conn, tenant, detection, window)
        return raised

    async def _objectives(self, conn: AsyncConnection, tenant: uuid.UUID) -> list[tuple[a.Detection, datetime]]:
        """Objectives that drifted off target, as detections (an objective is its own baseline: its target)."""
        from cxm_insight.insights import objective_series

        row = await (await driver(conn)).fetchrow(
            "SELECT definition::text AS d FROM objectives WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1", tenant
        )
        if row is None:
            return []
        found = []
        for objective in parse_objectives(orjson.loads(row["d"])):
            series = await objective_series(conn, tenant, objective)
            status = evaluate(objective, series)
            if not status.drifted or not series:
                continue
            detection = a.Detection(
                kind=OBJECTIVE_DRIFT, key=objective.id, observed=status.current or 0.0, expected=objective.target,
                p_value=0.0, severity="high" if abs(status.gap or 0.0) >= abs(objective.target) * 0.2 else "medium",
                evidence={"objective": objective.to_dict(), "status": dataclasses.asdict(status)},
            )  # fmt: skip
            found.append((detection, series[-1][0]))
        return found

    def _tests(
        self,
        dim: str,
        key: str,
        window: datetime,
        now: datetime,
        current: Tally,
        baseline: list[Tally],
        totals_now: Tally,
        totals_before: list[Tally],
        tests: int,
    ) -> list[a.Detection]:
        s = self.settings
        found: list[a.Detection | None] = []
        common = {"tests": tests, "alpha": s.alpha, "min_count": s.min_count}
        if dim == "topic":
            found.append(
                a.volume_spike(
                    key, current.count, [b.count for b in baseline], exposure=float(totals_now.count),
                    baseline_exposures=[float(t.count) for t in totals_before], **common,
                )
            )  # fmt: skip
            found.append(
                a.negativity_rise(
                    key, current.negative, current.sent_n, sum(b.negative for b in baseline),
                    sum(b.sent_n for b in baseline), **common,
                )
            )  # fmt: skip
        elif dim == "intent" and key == "churn_threat":
            found.append(
                a.churn_spike(
                    key, current.count, [b.count for b in baseline], exposure=float(totals_now.count),
                    baseline_exposures=[float(t.count) for t in totals_before], **common,
                )
            )  # fmt: skip
        elif dim == "all":
            elapsed = min(1.0, max((now - window).total_seconds() / (s.window_h * 3600), 1 / 24))
            found.append(a.volume_spike(key, current.count, [b.count for b in baseline], exposure=elapsed, **common))
            total = Tally()
            for b in baseline:
                total = total.add(b)
            for metric in a.DROP_METRICS:
                found.append(a.metric_drop(metric, metric, current, total, tests=tests, alpha=s.alpha))
        return [d for d in found if d is not None]

    async def _raise(self, conn: AsyncConnection, tenant: uuid.UUID, detection: a.Detection, window: datetime) -> int:
        pg = await driver(conn)
        subject_key = f"{detection.kind}:{detection.key}"
        # An issue still open from an earlier window is the same issue: it is not raised again.
        open_already = await pg.fetchval(
            "SELECT 1 FROM alerts WHERE tenant_id = $1 AND kind = $2 AND key = $3 AND status <> 'resolved'",
            tenant, detection.kind, detection.key,
        )  # fmt: skip
        if open_already:
            return 0
        dedupe = a.dedupe_key(detection.kind, detection.key, window, scope=str(tenant))
        alert_id = deterministic_uuid(NAMESPACE, str(tenant), dedupe)
        end = window + timedelta(hours=self.settings.window_h)
        samples = await self._samples(conn, tenant, detection, window, end)
        evidence = {
            **detection.evidence,
            "observed": detection.observed,
            "expected": round(detection.expected, 4),
            "p_value": detection.p_value,
            "window": {"from": window.isoformat(), "to": end.isoformat()},
            "sample_feedback_ids": [str(s) for s in samples],
        }
        data = {
            "alert_id": str(alert_id),
            "kind": detection.kind,
            "key": detection.key,
            "severity": detection.severity,
            "dedupe_key": dedupe,
            "evidence": evidence,
        }
        event = Envelope(
            type=c.ALERT_RAISED, source=c.SOURCE, subject=str(alert_id), tenant_id=tenant, data=data,
            id=deterministic_uuid(NAMESPACE, "event", str(alert_id)),
        )  # fmt: skip
        stored = await append_many(conn, [PendingAppend(f"alert-{alert_id}", [event], 0)])
        await project(conn, [INSIGHT_READ_MODELS], stored)
        log.info("alert raised: %s (%s)", subject_key, detection.severity)
        return 1

    async def _samples(
        self, conn: AsyncConnection, tenant: uuid.UUID, detection: a.Detection, start: datetime, end: datetime
    ) -> list[uuid.UUID]:
        pg = await driver(conn)
        if detection.kind in (a.VOLUME_SPIKE, a.NEGATIVITY_RISE) and detection.key not in ("all",):
            negative_only = detection.kind == a.NEGATIVITY_RISE
            rows = await pg.fetch(
                "SELECT feedback_id FROM analyses WHERE tenant_id = $1 AND $2 = ANY(topics) AND occurred_at >= $3 "
                "AND occurred_at < $4 AND (NOT $5 OR sentiment_label = 'negative') ORDER BY occurred_at DESC LIMIT 5",
                tenant, detection.key, start, end, negative_only,
            )  # fmt: skip
        elif detection.kind == a.CHURN_THREAT:
            rows = await pg.fetch(
                "SELECT feedback_id FROM analyses WHERE tenant_id = $1 AND intent = 'churn_threat' "
                "AND occurred_at >= $2 AND occurred_at < $3 ORDER BY occurred_at DESC LIMIT 5",
                tenant, start, end,
            )  # fmt: skip
        else:
            rows = await pg.fetch(
                "SELECT feedback_id FROM analyses WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 "
                "AND (nps <= 6 OR csat <= 2 OR sentiment_label = 'negative') ORDER BY occurred_at DESC LIMIT 5",
                tenant, start, end,
            )  # fmt: skip
        return [r["feedback_id"] for r in rows]
