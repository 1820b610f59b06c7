"""Draining a running collector and delivery worker, so that a caller can then assert exactly.

``drain(collector, delivery)`` finishes the work of both background workers
in the calling thread, in the datapoint's order, and starts them again:

1. the collector's worker thread is stopped (it processes everything queued
   before it exits) and whatever is still queued is processed here;
2. the delivery loops are stopped (in-flight deliveries finish) and
   ``DeliveryWorker.run(burst=True)`` gives every outbox entry that is due
   one delivery attempt;
3. both workers are started again.

When it returns, every datapoint submitted before the call has its outcome
(counted in metrics; queued ones are in the outbox) and every outbox entry
that was due has been delivered, refused by the platform, or scheduled for a
retry by backoff (a retry due later is not waited for). Datapoints submitted
while it runs may or may not be included. It is dramatiq's
``broker.join(queue)`` then ``worker.join()``: drain, then assert, never sleep.
"""

from __future__ import annotations

from winnow.activelearning.collector import Collector
from winnow.activelearning.delivery import DeliveryWorker


def drain(
    collector: Collector | None, delivery: DeliveryWorker | None, *, timeout: float = 30.0
) -> None:
    """Run the collector's queue to empty, then delivery in burst mode; see the module docstring.

    ``timeout`` bounds each wait for a worker to stop. ``None`` skips that
    part (role platform has neither worker).
    """
    if collector is not None:
        collector.stop(timeout)
        collector.drain()
        collector.start()
    if delivery is not None:
        delivery.stop(timeout)
        delivery.run(burst=True)
        delivery.start()
