"""Failpoints: armed by the environment only, firing on the hit asked for, silent otherwise."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from cxm_common import failpoints
from cxm_common.failpoints import FailpointError


@pytest.fixture(autouse=True)
def disarmed() -> Iterator[None]:
    yield
    failpoints.arm("")


async def test_an_unarmed_point_does_nothing() -> None:
    await failpoints.reach("relay.after_publish_before_mark")
    assert failpoints.hits("relay.after_publish_before_mark") == 0


async def test_raise_fires_on_every_hit_without_a_hit_number() -> None:
    failpoints.arm("consumer.before_commit=raise")
    for _ in range(2):
        with pytest.raises(FailpointError):
            await failpoints.reach("consumer.before_commit")
    await failpoints.reach("consumer.after_commit_before_ack")  # other points stay quiet


async def test_a_hit_number_fires_on_that_hit_only() -> None:
    failpoints.arm("consumer.after_commit_before_ack=raise@3")
    await failpoints.reach("consumer.after_commit_before_ack")
    await failpoints.reach("consumer.after_commit_before_ack")
    with pytest.raises(FailpointError):
        await failpoints.reach("consumer.after_commit_before_ack")
    await failpoints.reach("consumer.after_commit_before_ack")
    assert failpoints.hits("consumer.after_commit_before_ack") == 4


async def test_sleep_stalls_only_the_coroutine_that_reached_it() -> None:
    failpoints.arm("eventstore.after_append=sleep:0.3")
    others = 0

    async def busy() -> None:
        nonlocal others
        while True:
            others += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(busy())
    began = time.monotonic()
    await failpoints.reach("eventstore.after_append")
    ticker.cancel()
    assert time.monotonic() - began >= 0.3
    assert others >= 10


@pytest.mark.parametrize(
    "spec", ["no.such.point=kill", "relay.after_publish_before_mark", "consumer.before_commit=explode",
             "consumer.before_commit=sleep", "consumer.before_commit=kill@x"],
)  # fmt: skip
def test_a_typo_is_refused_rather_than_silently_ignored(spec: str) -> None:
    with pytest.raises(ValueError):
        failpoints.parse(spec)


def test_several_points_are_armed_from_the_environment_variable() -> None:
    armed = failpoints.parse("relay.after_publish_before_mark=kill@2; eventstore.after_append=sleep:1.5")
    assert {name: (a.action, a.seconds, a.on_hit) for name, a in armed.items()} == {
        "relay.after_publish_before_mark": ("kill", 0.0, 2),
        "eventstore.after_append": ("sleep", 1.5, None),
    }


def test_kill_ends_the_process_with_sigkill_at_the_point() -> None:
    code = (
        "import asyncio\nfrom cxm_common import failpoints\n"
        "asyncio.run(failpoints.reach('relay.after_publish_before_mark'))\nprint('survived')\n"
    )
    env = {**os.environ, failpoints.ENV: "relay.after_publish_before_mark=kill"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL
    assert "survived" not in result.stdout
