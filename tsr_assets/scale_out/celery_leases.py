"""Lease renewal for steps a Celery worker holds on a Redis broker.

With Redis, Celery hides a fetched message for `visibility_timeout` seconds and then hands it to
another worker unless it was acknowledged. Steps are acknowledged when they end, so a fixed
timeout forces a choice: short, and a two-hour training step is started a second time while it
still runs; long, and a dead worker's step waits that long. A renewal thread in the worker's
main process removes the choice: every quarter lease it stamps the messages of the steps the
worker holds as fetched now. A live worker keeps its steps; a killed one stops stamping, and
its steps go to another worker one lease later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

log = logging.getLogger(__name__)

#: kombu's Redis transport keeps held messages' fetch times in this sorted set.
UNACKED_INDEX_KEY = "unacked_index"


def renew_leases(client, delivery_tags: Iterable[str], now: float | None = None) -> int:
    """Stamp the held messages `delivery_tags` as fetched at `now`; returns how many were
    still held (an acknowledged message is not brought back: `XX` only updates members)."""
    stamp = time.time() if now is None else now
    tags = {tag: stamp for tag in delivery_tags if tag}
    if not tags:
        return 0
    return int(client.zadd(UNACKED_INDEX_KEY, tags, xx=True, ch=True))


def _held_delivery_tags() -> list[str]:
    from celery.worker import state

    held = [*state.active_requests, *state.reserved_requests]
    return [r.message.delivery_tag for r in held if getattr(r, "message", None) is not None]


class LeaseRenewer:
    """A daemon thread that renews the leases of the steps this worker holds."""

    def __init__(self, broker: str, lease_s: float) -> None:
        import redis

        self.client = redis.Redis.from_url(broker, socket_timeout=5, socket_connect_timeout=5)
        self.interval_s = max(0.5, lease_s / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tsr-lease-renewer",
                                        daemon=True)

    def start(self) -> None:
        """Start renewing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (on worker shutdown)."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                renew_leases(self.client, _held_delivery_tags())
            except Exception as exc:  # the broker is away: keep trying, the lease has slack
                log.warning("could not renew step leases: %s", exc)


def install_lease_renewal(broker: str, lease_s: float) -> None:
    """Start a `LeaseRenewer` when this process becomes a ready worker (Redis brokers only;
    AMQP brokers give a dead consumer's messages back by themselves)."""
    if not broker.startswith(("redis://", "rediss://")):
        return
    from celery import signals

    renewers: list[LeaseRenewer] = []

    def _start(**_kwargs) -> None:
        renewer = LeaseRenewer(broker, lease_s)
        renewer.start()
        renewers.append(renewer)

    def _stop(**_kwargs) -> None:
        for renewer in renewers:
            renewer.stop()

    signals.worker_ready.connect(_start, weak=False)
    signals.worker_shutdown.connect(_stop, weak=False)
