"""Small asyncio helpers for background loops."""

from __future__ import annotations

import asyncio


async def sleep_or_stop(stop: asyncio.Event, delay: float) -> None:
    """Sleep for `delay` seconds, waking early when `stop` is set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay)
    except TimeoutError:
        pass
