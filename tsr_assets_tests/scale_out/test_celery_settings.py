"""Celery settings from the environment, and step leases renewed on a real Redis."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from tsr_assets.scale_out.celery_leases import UNACKED_INDEX_KEY, renew_leases
from tsr_assets.scale_out.celery_settings import celery_settings
from tsr_assets_tests.local_services import RedisServer


def test_settings_follow_the_environment() -> None:
    settings = celery_settings({"TSR_CELERY_BROKER": "redis://q:6379/0",
                                "TSR_CELERY_LEASE_S": "40", "TSR_CELERY_OUTAGE_S": "60"})
    assert settings["broker_url"] == settings["result_backend"] == "redis://q:6379/0"
    assert settings["task_acks_late"] and settings["task_reject_on_worker_lost"]
    assert settings["broker_transport_options"]["visibility_timeout"] == 40
    assert settings["broker_transport_options"]["unacked_restore_interval"] == 10
    assert settings["result_backend_max_retries"] == 12  # 60 s at 5 s between tries
    backend = celery_settings({"TSR_CELERY_BROKER": "redis://q/0",
                               "TSR_CELERY_BACKEND": "redis://r/1"})["result_backend"]
    assert backend == "redis://r/1"


@pytest.mark.parametrize(("env", "message"), [
    ({}, r"\$TSR_CELERY_BROKER is not set: export it"),
    ({"TSR_CELERY_BROKER": "redis://q/0", "TSR_CELERY_LEASE_S": "soon"},
     r"\$TSR_CELERY_LEASE_S='soon' is not a number of seconds"),
    ({"TSR_CELERY_BROKER": "redis://q/0", "TSR_CELERY_OUTAGE_S": "0"},
     r"\$TSR_CELERY_OUTAGE_S='0' must be more than 0 seconds"),
])
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        celery_settings(env)


def test_renewal_moves_held_messages_forward_and_leaves_acknowledged_ones_gone(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        fetched_at = time.time() - 500  # as kombu stamps a message when a worker takes it
        client.zadd(UNACKED_INDEX_KEY, {"held": fetched_at, "abandoned": fetched_at})
        renewed = renew_leases(client, ["held", "acknowledged"], now=fetched_at + 400)
        assert renewed == 1
        scores = dict(client.zrange(UNACKED_INDEX_KEY, 0, -1, withscores=True))
        assert scores == {b"held": fetched_at + 400, b"abandoned": fetched_at}
        # What kombu would give back after a 120 s lease: only the abandoned message.
        expired = client.zrangebyscore(UNACKED_INDEX_KEY, 0, fetched_at + 400 - 120)
        assert expired == [b"abandoned"]
        assert renew_leases(client, []) == 0
    finally:
        server.stop()
