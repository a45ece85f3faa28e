"""The events ingest publishes (`ingest.*`), with the shape of their data.

Free text and PII travel in the `_pii` section, sealed with the customer's data key in ingest's store and opened
by the relay, so subscribers receive them in the clear and seal them again with keys of their own:

- `ingest.feedback.received.v1`: `feedback_id, customer_id|null, channel, source, connection_id|null,
  external_id|null, scores {nps, csat, ces}, touchpoint, occurred_at` + PII `text`, `metadata`, `raw` (the
  source's request, kept only when it concerns this one customer).
- `ingest.interaction.recorded.v1`: `interaction_id, customer_id, name, channel, source, external_id,
  occurred_at` + PII `properties`.
- `ingest.customer.updated.v1`: `customer_id, keys_added [{kind, digest}], attributes {segment, plan, region,
  account, agent, team, value, …}` + PII `key, email, name, phone` (those given).
- `ingest.customer.merged.v1`: `customer_id` (the survivor), `merged_ids`.
- `ingest.customer.erased.v1`: `customer_id, erasure_id, merged_ids`.
- `ingest.erasure.confirmed.v1`: `erasure_id, customer_id, service` — another service (insight, …) reported its
  part of an erasure done (its `<service>.customer.erased.v1`), so the erasure's status can show it.
- `ingest.connection.*.v1` (created, rotated, deleted): the connection's public fields; its secrets travel only
  sealed, in `_secret`, which nothing outside ingest can open.
"""

FEEDBACK_RECEIVED = "ingest.feedback.received.v1"
INTERACTION_RECORDED = "ingest.interaction.recorded.v1"
CUSTOMER_UPDATED = "ingest.customer.updated.v1"
CUSTOMER_MERGED = "ingest.customer.merged.v1"
CUSTOMER_ERASED = "ingest.customer.erased.v1"
ERASURE_CONFIRMED = "ingest.erasure.confirmed.v1"
CONNECTION_CREATED = "ingest.connection.created.v1"
CONNECTION_ROTATED = "ingest.connection.rotated.v1"
CONNECTION_DELETED = "ingest.connection.deleted.v1"
SOURCE = "ingest"
