"""Periodic jobs: rebalancing automated pools, replaying calls spooled during an outage.

`callpool worker` runs them in a loop; with SQLite (one machine, one file) `callpool serve`
runs the same loop in a background thread so the embedded set-up needs no second process.
Each job is safe to run in several processes at once (see the jobs' own claims and locks).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from callpool.calls.service import replay_spool
from callpool.db import Database
from callpool.pools.provisioning import carrier_job
from callpool.pools.rebalance import rebalance_job
from callpool.reports.rollup import rollup_days
from callpool.settings import Settings
from callpool.telephony.base import Provider

log = logging.getLogger("callpool.worker")

Job = Callable[[Database, Settings, Provider], object]


def jobs() -> list[tuple[str, Job]]:
    return [
        # Carrier work a crash or a carrier failure interrupted: finish purchases (or give the
        # numbers back), retry releases.
        ("finish carrier work", carrier_job),
        # Automated pools follow their traffic; manual pools drop expired flagged trackers.
        ("rebalance pools", rebalance_job),
        # Calls taken while the database was down: store them now that it may be back.
        (
            "replay spooled calls",
            lambda database, settings, _provider: replay_spool(database, settings),
        ),
        # Reports read closed days from daily rollups: write the days not rolled up yet.
        ("roll up report days", lambda database, _settings, _provider: rollup_days(database)),
    ]


SLOW_JOB_SECONDS = 1.0


def run_once(database: Database, settings: Settings, provider: Provider) -> None:
    for name, job in jobs():
        started = time.perf_counter()
        try:
            job(database, settings, provider)
        except Exception:  # one failing job must not stop the others, nor the loop
            log.exception("worker job %s failed", name)
        took = time.perf_counter() - started
        if took > SLOW_JOB_SECONDS:
            log.warning("worker job %s took %.1f s", name, took)


def run_forever(
    database: Database, settings: Settings, provider: Provider, stop: threading.Event
) -> None:
    while not stop.is_set():
        run_once(database, settings, provider)
        stop.wait(settings.worker_interval_seconds)


def start_in_background(
    database: Database, settings: Settings, provider: Provider
) -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(database, settings, provider, stop), daemon=True, name="worker"
    )
    thread.start()
    return stop
