"""The subscription events (`actions.subscription.*`), one stream per subscription (`subscription-<id>`).

- `actions.subscription.created.v1`: `subscription_id, url, event_types, description|null` + `_secret`, the signing
  secret sealed with the subscription's data key (`{"subject": "<id>", "fields": {"secret": "enc:v1:…"}}`);
- `actions.subscription.disabled.v1`: `subscription_id, reason` (the endpoint answered 410 Gone);
- `actions.subscription.deleted.v1`: `subscription_id` (its data key is destroyed with it).
"""

from __future__ import annotations

import uuid

SUBSCRIPTION_CREATED = "actions.subscription.created.v1"
SUBSCRIPTION_DISABLED = "actions.subscription.disabled.v1"
SUBSCRIPTION_DELETED = "actions.subscription.deleted.v1"
SOURCE = "actions"
SECRET = "_secret"


def stream_id(subscription_id: uuid.UUID) -> str:
    """The event stream of one subscription."""
    return f"subscription-{subscription_id}"
