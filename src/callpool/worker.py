"""Periodic jobs: rebalancing automated pools, replaying calls spooled during an outage,
delivering the outbox (webhooks, email).

`callpool worker` runs them in a loop; with SQLite (one machine, one file) `callpool serve`
runs the same loop in a background thread so the embedded set-up needs no second process.
Each job is safe to run in several processes at once (see the jobs' own claims and locks).
The outbox is delivered in a loop of its own, every ``outbox_interval_seconds`` (1 s), so a
webhook leaves within a second or so of its event rather than at the next minute's round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from callpool.calls.service import replay_spool
from callpool.db import Database
from callpool.integrations import jobs as integrations
from callpool.integrations.outbox import SENDERS
from callpool.pools.leaks import quiet_release_job
from callpool.pools.provisioning import carrier_job
from callpool.pools.rebalance import rebalance_job
from callpool.reports.rollup import rollup_days
from callpool.settings import Settings
from callpool.simulation.daily import advise_pool_sizes
from callpool.telephony.base import Provider

log = logging.getLogger("callpool.worker")

Job = Callable[[Database, Settings, Provider], object]


def jobs() -> list[tuple[str, Job]]:
    return [
        # Carrier work a crash or a carrier failure interrupted: finish purchases (or give the
        # numbers back), retry releases.
        ("finish carrier work", carrier_job),
        # Retired (leaked) numbers whose quiet period is over go back to the carrier.
        ("release quiet retired numbers", quiet_release_job),
        # Automated pools follow their traffic; manual pools drop expired flagged trackers.
        ("rebalance pools", rebalance_job),
        # Calls taken while the database was down: store them now that it may be back.
        (
            "replay spooled calls",
            lambda database, settings, _provider: replay_spool(database, settings),
        ),
        # Reports read closed days from daily rollups: write the days not rolled up yet.
        ("roll up report days", lambda database, _settings, _provider: rollup_days(database)),
        # Yesterday's call digest for the users who asked for one; month-old deliveries go.
        (
            "write daily digests",
            lambda database, settings, _provider: integrations.daily(database, settings),
        ),
        # Each site's pool-size advice from its last 30 days, daily (a child process).
        ("advise pool sizes", advise_pool_sizes),
    ]


def deliver_outbox(database: Database, settings: Settings, _provider: Provider) -> object:
    """Webhooks and emails due now (retries included); a read when there are none."""
    return integrations.deliver(database, settings)


SLOW_JOB_SECONDS = 1.0


def run_once(database: Database, settings: Settings, provider: Provider) -> None:
    for name, job in [*jobs(), ("deliver outbox", deliver_outbox)]:
        started = time.perf_counter()
        try:
            job(database, settings, provider)
        except Exception:  # one failing job must not stop the others, nor the loop
            log.exception("worker job %s failed", name)
        took = time.perf_counter() - started
        if took > SLOW_JOB_SECONDS:
            log.warning("worker job %s took %.1f s", name, took)


# `serve` (SQLite) runs the worker in its own process, beside the visit path: fewer sends in
# flight there, so that a backlog (after a receiver's outage) drains slower rather than taking
# the visits' CPU. `callpool worker` is a process of its own and sends at full pace.
SENDERS_IN_SERVE = 4


def run_forever(
    database: Database,
    settings: Settings,
    provider: Provider,
    stop: threading.Event,
    *,
    senders: int = SENDERS,
) -> None:
    deliveries = threading.Thread(
        target=_deliver_forever,
        args=(database, settings, stop, senders),
        daemon=True,
        name="outbox",
    )
    deliveries.start()
    while not stop.is_set():
        run_once(database, settings, provider)
        stop.wait(settings.worker_interval_seconds)
    deliveries.join()


def _deliver_forever(
    database: Database, settings: Settings, stop: threading.Event, senders: int
) -> None:
    while not stop.is_set():
        try:
            busy = bool(integrations.deliver(database, settings, senders=senders))
        except Exception:  # the database away, a bug: the next round tries again
            log.exception("worker job deliver outbox failed")
            busy = False
        if not busy:  # a backlog is worked off batch after batch, without pauses
            stop.wait(settings.outbox_interval_seconds)


def start_in_background(
    database: Database, settings: Settings, provider: Provider
) -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever,
        args=(database, settings, provider, stop),
        kwargs={"senders": SENDERS_IN_SERVE},
        daemon=True,
        name="worker",
    )
    thread.start()
    return stop
