"""The events journey publishes (`journey.*`), with the shape of their data, and those it consumes.

Each customer's journey is one stream (`customer-<id>`):
- `journey.step.recorded.v1`: `customer_id, step_id, kind (interaction|feedback), name, channel, touchpoint, at,
  stage, stage_map_version, nps, csat, ces, sentiment {label, score}, intent, topics` — an interaction or an
  analysed feedback placed on the timeline (a newer analysis of the same feedback records it again);
- `journey.stage.entered.v1`: `customer_id, stage, from_stage, at` — the customer's current stage changed;
- `journey.churn_risk.changed.v1`: `customer_id, score, level, previous_level, reasons [{signal, weight, detail}],
  value` — the risk level moved;
- `journey.customer.rederived.v1`: `customer_id, stage_map_version, stages {step_id: stage}` — a new stage map
  applied to the customer's history;
- `journey.customer.erased.v1`: `customer_id, erasure_id, merged_ids` — journey's part of an erasure is done.

Per tenant: `journey.stage_map.updated.v1` (`stagemap-<tenant>`: `version, map`) and
`journey.friction.detected.v1` (`friction-<id>`: `friction_id, kind (stage|transition), key, impact, traffic,
value_at_stake, evidence, window {from, to}`).
"""

STEP_RECORDED = "journey.step.recorded.v1"
STAGE_ENTERED = "journey.stage.entered.v1"
CHURN_RISK_CHANGED = "journey.churn_risk.changed.v1"
CUSTOMER_REDERIVED = "journey.customer.rederived.v1"
CUSTOMER_ERASED = "journey.customer.erased.v1"
STAGE_MAP_UPDATED = "journey.stage_map.updated.v1"
FRICTION_DETECTED = "journey.friction.detected.v1"
SOURCE = "journey"

INTERACTION_RECORDED = "ingest.interaction.recorded.v1"
CUSTOMER_UPDATED = "ingest.customer.updated.v1"
CUSTOMER_MERGED = "ingest.customer.merged.v1"
CUSTOMER_ERASED_INGEST = "ingest.customer.erased.v1"
FEEDBACK_ANALYZED = "insight.feedback.analyzed.v1"
