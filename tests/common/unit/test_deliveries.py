"""The consumer reads delivery counts from ack subjects as nats-py's metadata does."""

from __future__ import annotations

import pytest
from nats.aio.msg import Msg

from cxm_common.consumer import _deliveries


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.INGEST.journey_interactions.3.120.118.1760000000000000000.42",
        "$JS.ACK._.ACCOUNTHASH.INGEST.journey_interactions.4.120.118.1760000000000000000.42.token",
        "$JS.ACK.hub.ACCOUNTHASH.INGEST.journey_interactions.1.7.7.1760000000000000000.0",
    ],
)
def test_the_delivery_count_is_the_one_nats_py_reads(reply: str) -> None:
    msg = Msg(_client=None, subject="ingest.x", reply=reply, data=b"")  # type: ignore[arg-type]
    assert _deliveries(msg) == msg.metadata.num_delivered
