"""Prometheus metrics: counters kept in the catalogue database, everything exposed at
scrape time.

Why the catalogue and not each process's memory: a decision is counted by whichever
worker process records it in the catalogue (``DecisionCatalogue.record``, in the same
transaction as its row, and only when the row is new), so every decision counts exactly
once however often its messages are redelivered; the counts survive worker restarts,
Dramatiq's forked processes and a Redis that lost its data; and any process of any
machine can serve the same totals. No ``PROMETHEUS_MULTIPROC_DIR``, no port per process.
The gauges (queue depth, inbox, claims, workers) are read from Redis and the store when
scraped.

Counters (table ``counters``; name -> value):

    decided:<status>          pipeline_packages_decided_total{status}
    error:<code>              pipeline_decision_errors_total{code}   decisions with >= 1 error of code
    bytes                     pipeline_processed_bytes_total         package bytes decided
    seconds_bucket:<le>       pipeline_decision_seconds (histogram)  ingest actor's time per decision
    seconds_sum, seconds_count
    mail:<result>             pipeline_mails_total{result}           sent | failed | unknown
    mail_retries              pipeline_mail_retries_total            attempts that will be retried

The endpoint (``PIPELINE_METRICS_PORT``, off when 0): every pipeline process (the
watcher, each worker process) offers to serve it; the first to bind the port on a
machine does, the others retry every :data:`RETRY_SECONDS`, so one of them takes over
when it stops. Scrape one machine (all serve the same totals).
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any, Callable, Iterator, Mapping, Protocol

import structlog

from pipeline.check.documents import STATUSES

DECISION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
MAIL_RESULTS = ("sent", "failed", "unknown")
RETRY_SECONDS = 10.0


def _le(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))


def decision_increments(document: Mapping[str, Any], duration_s: float | None) -> dict[str, float]:
    """The counter increments of one decision (applied once, with its index entry)."""
    out: dict[str, float] = {f"decided:{document['status']}": 1,
                             "bytes": float((document.get("package") or {}).get("size") or 0)}
    for code in sorted({e["code"] for e in document.get("errors") or []}):
        out[f"error:{code}"] = 1
    if duration_s is not None:
        bucket = next((b for b in DECISION_BUCKETS if duration_s <= b), float("inf"))
        out[f"seconds_bucket:{_le(bucket)}"] = 1
        out["seconds_sum"] = float(duration_s)
        out["seconds_count"] = 1
    return out


class CounterTable(Protocol):
    """Where the counters live (:class:`pipeline.catalogue.decisions.DecisionCatalogue`)."""

    def add(self, amounts: Mapping[str, float]) -> None: ...
    def counter_values(self) -> dict[str, float]: ...


class Counters:
    def __init__(self, table: CounterTable) -> None:
        self.table = table

    def add(self, field: str, amount: float = 1) -> None:
        self.table.add({field: amount})

    def mail(self, result: str) -> None:
        """What the mailer tells (``Mailer.on_result``): sent, unknown, rejected (counted
        as failed), gave_up (failed), retry."""
        if result == "retry":
            self.add("mail_retries")
        else:
            self.add(f"mail:{'failed' if result in ('rejected', 'gave_up') else result}")

    def all(self) -> dict[str, float]:
        return self.table.counter_values()


class PipelineCollector:
    """Builds every metric family from Redis and the store at scrape time. ``source``
    returns the operator view (:class:`pipeline.ops.queries.Ops`), created on first use."""

    def __init__(self, source: Callable[[], Any]) -> None:
        self._source = source

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        up = GaugeMetricFamily("pipeline_metrics_up", "1 if Redis and the store answered this scrape")
        try:
            ops = self._source()
            values = ops.counters.all()
            gauges = ops.gauges()
        except Exception as exc:  # Redis or the store away: say so rather than fail the scrape
            structlog.get_logger().warning("metrics.collect_failed", error=repr(exc))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        decided = CounterMetricFamily("pipeline_packages_decided", "Packages decided, by status",
                                      labels=["status"])
        for status in STATUSES:
            decided.add_metric([status], values.get(f"decided:{status}", 0.0))
        yield decided
        errors = CounterMetricFamily("pipeline_decision_errors",
                                     "Decisions with at least one error of this code", labels=["code"])
        for field, value in sorted(values.items()):
            if field.startswith("error:"):
                errors.add_metric([field[len("error:"):]], value)
        yield errors
        yield CounterMetricFamily("pipeline_processed_bytes", "Bytes of the packages decided",
                                  value=values.get("bytes", 0.0))
        cumulative, buckets = 0.0, []
        for bound in (*DECISION_BUCKETS, float("inf")):
            cumulative += values.get(f"seconds_bucket:{_le(bound)}", 0.0)
            buckets.append((_le(bound), cumulative))
        yield HistogramMetricFamily("pipeline_decision_seconds",
                                    "Seconds from taking a package's message to its stored decision",
                                    buckets=buckets, sum_value=values.get("seconds_sum", 0.0))
        mails = CounterMetricFamily("pipeline_mails", "Receipt mails by result (failed: refused for good "
                                    "or given up after every retry)", labels=["result"])
        for result in MAIL_RESULTS:
            mails.add_metric([result], values.get(f"mail:{result}", 0.0))
        yield mails
        yield CounterMetricFamily("pipeline_mail_retries", "Mail attempts that failed and will be retried",
                                  value=values.get("mail_retries", 0.0))

        queue = GaugeMetricFamily("pipeline_queue_messages", "Messages in the Dramatiq queues "
                                  "(queued: not yet done; delayed: waiting for a retry; dead: given up)",
                                  labels=["queue", "state"])
        for name, depth in gauges["queues"].items():
            for state, value in depth.items():
                queue.add_metric([name, state], value)
        yield queue
        yield GaugeMetricFamily("pipeline_inbox_waiting", "Uploads in the inbox, not yet claimed",
                                value=gauges["inbox_waiting"])
        yield GaugeMetricFamily("pipeline_inbox_oldest_seconds", "Age of the oldest upload waiting in the inbox",
                                value=gauges["inbox_oldest_seconds"])
        yield GaugeMetricFamily("pipeline_in_progress", "Packages claimed and not yet stored",
                                value=gauges["in_progress"])
        yield GaugeMetricFamily("pipeline_workers_alive", "Worker processes that reported within 20 s",
                                value=gauges["workers_alive"])


def offer_endpoint(port: int, addr: str, source: Callable[[], Any]) -> threading.Thread | None:
    """Serve the metrics on ``addr:port`` from this process, now or as soon as the port is
    free (another pipeline process of this machine may hold it). None when ``port`` is 0."""
    if not port:
        return None
    log = structlog.get_logger()

    def run() -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        told = False
        while True:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(PipelineCollector(source))  # type: ignore[arg-type]
            try:
                start_http_server(port, addr, registry)
            except OSError as exc:
                if not told:
                    told = True
                    if exc.errno == errno.EADDRINUSE:
                        log.info("metrics.port_taken", port=port,
                                 note="another process serves the metrics; this one takes over if it stops")
                    else:
                        log.warning("metrics.bind_failed", port=port, addr=addr, error=str(exc))
                time.sleep(RETRY_SECONDS)
                continue
            log.info("metrics.serving", port=port, addr=addr)
            return

    thread = threading.Thread(target=run, name="metrics", daemon=True)
    thread.start()
    return thread


def lazy(factory: Callable[[], Any]) -> Callable[[], Any]:
    """``factory()`` once, on first use (a failed attempt is tried again next time)."""
    made: list[Any] = []
    lock = threading.Lock()

    def get() -> Any:
        with lock:
            if not made:
                made.append(factory())
            return made[0]
    return get
