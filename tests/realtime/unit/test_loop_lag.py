"""The event loop's lateness is observed into ``troupe_event_loop_lag_seconds``."""

import asyncio
import time

from realtime import metrics
from realtime.loop_lag import INTERVAL, LoopLagMonitor
from tests.support.waiting import eventually


def _samples() -> tuple[float, float, float]:
    """(count, sum, count above 20 ms) of the histogram so far."""
    count = total = below = 0.0
    for metric in metrics.LOOP_LAG_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_bucket") and sample.labels["le"] == "0.025":
                below = sample.value
    return count, total, count - below


async def test_a_callback_holding_the_loop_shows_as_lag() -> None:
    monitor = LoopLagMonitor(asyncio.get_running_loop())
    count, total, above = _samples()
    monitor.start()
    try:
        await eventually(lambda: _samples()[0] > count, 2, "the monitor never ticked")
        # A callback that holds the loop for 80 ms, past the next tick's due time.
        asyncio.get_running_loop().call_soon(time.sleep, 0.08)
        await eventually(lambda: _samples()[2] > above, 2, "the 80 ms hold was not observed")
        assert _samples()[1] - total >= 0.08 - INTERVAL
    finally:
        monitor.stop()
