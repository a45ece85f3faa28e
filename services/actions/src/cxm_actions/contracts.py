"""The events actions publishes (`actions.*`), with the shape of their data, and those it consumes.

Each action item is one stream (`action-<id>`):
- `actions.action.created.v1`: `action_id, kind (close_loop|improvement), title, description, priority, owner,
  team, due_at|null, customer_id|null, links {feedback, customer, alert, topic, stage, friction}, dedupe_key|null,
  rule_id|null, suggestion {play_id, action}|null`;
- `actions.action.transitioned.v1`: `action_id, from, to, note|null, root_cause|null, suggestion_used|null`;
- `actions.action.assigned.v1`: `action_id, owner, team`;
- `actions.action.commented.v1`: `action_id, author|null` + PII `text`;
- `actions.action.sla_breached.v1`: `action_id, due_at, breached_at` (deterministic id: one per due time);
- `actions.impact.measured.v1`: `action_id, metric, window_days, result {treated/control before/after, did, ci,
  significant, revenue at risk before/after}`.
Per tenant: `actions.rules.updated.v1` (`rules-<tenant>`: `version, rules`), `actions.playbook.updated.v1`
(`playbook-<tenant>`: `version, plays`); `actions.customer.erased.v1` (`customer-<id>`) when actions' part of an
erasure is done.
"""

ACTION_CREATED = "actions.action.created.v1"
ACTION_TRANSITIONED = "actions.action.transitioned.v1"
ACTION_ASSIGNED = "actions.action.assigned.v1"
ACTION_COMMENTED = "actions.action.commented.v1"
ACTION_SLA_BREACHED = "actions.action.sla_breached.v1"
IMPACT_MEASURED = "actions.impact.measured.v1"
RULES_UPDATED = "actions.rules.updated.v1"
PLAYBOOK_UPDATED = "actions.playbook.updated.v1"
CUSTOMER_ERASED = "actions.customer.erased.v1"
SOURCE = "actions"

FEEDBACK_ANALYZED = "insight.feedback.analyzed.v1"
ALERT_RAISED = "insight.alert.raised.v1"
STEP_RECORDED = "journey.step.recorded.v1"
CHURN_RISK_CHANGED = "journey.churn_risk.changed.v1"
FRICTION_DETECTED = "journey.friction.detected.v1"
CUSTOMER_UPDATED = "ingest.customer.updated.v1"
CUSTOMER_ERASED_INGEST = "ingest.customer.erased.v1"
