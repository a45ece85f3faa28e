"""The events insight publishes (`insight.*`), with the shape of their data, and those it consumes.

- `insight.feedback.analyzed.v1` (stream `feedback-<id>`; a re-analysis appends a newer one that supersedes it):
  `feedback_id, customer_id|null, channel, source, touchpoint, occurred_at, scores {nps, csat, ces}, sentiment
  {label, score, confidence}, emotions, intent, intent_scores, urgency, urgency_reason, topics [{topic,
  confidence, sentiment}], redactions {kind: count}, model_version, taxonomy_version, tenant_model_version|null,
  revision, attributes {segment, agent, team, value}` + PII `text` (redacted) and `evidence` (per topic).
- `insight.taxonomy.updated.v1` (stream `taxonomy-<tenant>`): `version, topics`.
- `insight.objectives.updated.v1` (stream `objectives-<tenant>`): `version, objectives`.
- `insight.label.recorded.v1` (stream `label-<id>`): `label_id, feedback_id|null, customer_id|null, sentiment,
  topics` + PII `text`.
- `insight.model.trained.v1` (stream `model-<tenant>`): `version, labels, report`.
- `insight.alert.raised.v1`, `insight.alert.acknowledged.v1`, `insight.alert.resolved.v1` (stream `alert-<id>`):
  `alert_id, kind, key, severity, dedupe_key, evidence {observed, expected, p_value, window, sample_feedback_ids}`.
- `insight.theme.discovered.v1`, `insight.theme.accepted.v1` (stream `theme-<id>`): `theme_id, key, size,
  top_terms, feedback_ids, example_ids, cohesion` (accepted: `topic_id, taxonomy_version`).
- `insight.customer.erased.v1` (stream `customer-<id>`): `customer_id, erasure_id` — insight's part of an erasure
  is done: keys destroyed, read models purged.
"""

FEEDBACK_ANALYZED = "insight.feedback.analyzed.v1"
TAXONOMY_UPDATED = "insight.taxonomy.updated.v1"
OBJECTIVES_UPDATED = "insight.objectives.updated.v1"
LABEL_RECORDED = "insight.label.recorded.v1"
MODEL_TRAINED = "insight.model.trained.v1"
ALERT_RAISED = "insight.alert.raised.v1"
ALERT_ACKNOWLEDGED = "insight.alert.acknowledged.v1"
ALERT_RESOLVED = "insight.alert.resolved.v1"
THEME_DISCOVERED = "insight.theme.discovered.v1"
THEME_ACCEPTED = "insight.theme.accepted.v1"
CUSTOMER_ERASED = "insight.customer.erased.v1"
SOURCE = "insight"

# What insight consumes from ingest.
INGEST_FEEDBACK_RECEIVED = "ingest.feedback.received.v1"
INGEST_CUSTOMER_UPDATED = "ingest.customer.updated.v1"
INGEST_CUSTOMER_MERGED = "ingest.customer.merged.v1"
INGEST_CUSTOMER_ERASED = "ingest.customer.erased.v1"
