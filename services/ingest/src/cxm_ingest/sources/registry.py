"""Every webhook source adapter, by the name used in the webhook URL."""

from __future__ import annotations

from cxm_ingest.sources import (
    app_store,
    delighted,
    freshdesk,
    generic,
    google_play,
    hubspot,
    intercom,
    salesforce,
    surveymonkey,
    twilio,
    typeform,
    zendesk,
)
from cxm_ingest.sources.base import SourceAdapter

ADAPTERS: dict[str, SourceAdapter] = {
    module.ADAPTER.name: module.ADAPTER
    for module in (
        zendesk,
        hubspot,
        intercom,
        typeform,
        surveymonkey,
        freshdesk,
        salesforce,
        delighted,
        twilio,
        generic,
        google_play,
        app_store,
    )
}
