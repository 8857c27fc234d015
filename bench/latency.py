"""Where a dropped package's time goes with an idle pipeline, and a big burst.

- ``latency``: small valid packages renamed one at a time into the inbox of an idle
  `pipeline run` (a rename into the inbox is taken at once: the quiet period is for files
  still being written). Each one's time is split by the pipeline's own log lines: drop →
  ``watcher.enqueued`` (the event and the hand-over), → ``package.checking`` (the message
  fetched by a worker, the package claimed), → ``package.decided`` (its ``check_s``: the
  checks; the rest: the decision stored and the package moved), → ``decision.announced``
  (the catalogue written, the mail asked for).
- ``burst``: N distinct packages renamed into the inbox at once; lost and doubled
  decisions, Redis memory and catalogue size per package.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import redis

from bench.pipeline_run import start_pipeline_run
from bench.throughput import LogTail, _epoch, _percentile, build_packages, pipeline_env, wait_for_workers

STAGES = ("event_and_enqueue", "fetch_and_claim", "check", "store", "announce")


def _started(scratch: Path, name: str, count: int) -> tuple[list[Path], Any, Any, LogTail, list[dict[str, Any]]]:
    """``count`` distinct packages staged and a fresh `pipeline run` (2 worker processes)
    whose workers have started: (the packages, the process, its log file, the log's tail,
    the lines so far)."""
    data = scratch / name
    shutil.rmtree(data, ignore_errors=True)
    paths = build_packages(data / "stage", count, f"{name}-")
    log_path = data / "run.log"
    proc, log = start_pipeline_run(pipeline_env(data), log_path)
    tail = LogTail(log_path)
    try:
        return paths, proc, log, tail, wait_for_workers(tail, 2, log_path)
    except BaseException:
        proc.kill()
        log.close()
        raise


def bench_latency(scratch: Path, count: int = 40) -> dict[str, Any]:
    paths, proc, log, tail, _ = _started(scratch, "latency", count)
    data, log_path = scratch / "latency", scratch / "latency" / "run.log"
    rows: list[dict[str, float]] = []
    try:
        time.sleep(2)  # idle: start-up work done
        tail.lines()
        for path in paths:
            dropped = time.time()
            os.rename(path, data / "inbox" / path.name)
            marks: dict[str, float] = {}
            check_s = 0.0
            deadline = time.monotonic() + 60
            while "decision.announced" not in marks:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{path.name} not decided (see {log_path})")
                time.sleep(0.02)
                for line in tail.lines():
                    if str(line.get("source", "")).rsplit("/", 1)[-1] != path.name:
                        continue
                    event = line.get("event", "")
                    if event in ("watcher.enqueued", "package.checking", "package.decided", "decision.announced"):
                        marks.setdefault(event, _epoch(line))
                        if event == "package.decided":
                            check_s = float(line.get("check_s") or 0.0)
            decided_after = marks["package.decided"] - marks["package.checking"]
            rows.append({
                "drop_to_decision": marks["package.decided"] - dropped,
                "event_and_enqueue": marks["watcher.enqueued"] - dropped,
                "fetch_and_claim": marks["package.checking"] - marks["watcher.enqueued"],
                "check": min(check_s, decided_after),
                "store": max(0.0, decided_after - check_s),
                "announce": marks["decision.announced"] - marks["package.decided"],
            })
            time.sleep(0.3)  # idle again before the next drop
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()
    shutil.rmtree(data, ignore_errors=True)
    total = [r["drop_to_decision"] for r in rows]
    return {
        "packages": count,
        "drop_to_decision_p50_s": round(statistics.median(total), 3),
        "drop_to_decision_p95_s": round(_percentile(total, 0.95), 3),
        "drop_to_decision_max_s": round(max(total), 3),
        "first_two_check_s": [round(r["check"], 3) for r in rows[:2]],  # each worker's first
        "stages_p50_s": {stage: round(statistics.median(r[stage] for r in rows), 4) for stage in STAGES},
        "stages_p95_s": {stage: round(_percentile([r[stage] for r in rows], 0.95), 4) for stage in STAGES},
    }


def _redis_memory(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def _catalogue_bytes(data: Path) -> int:
    return sum(p.stat().st_size for p in data.glob("catalogue.sqlite3*"))


def bench_burst(scratch: Path, count: int = 2000, timeout: float = 1800) -> dict[str, Any]:
    paths, proc, log, tail, lines = _started(scratch, "burst", count)
    data = scratch / "burst"
    try:
        url = next(line["redis"] for line in lines if line.get("event") == "supervisor.started")
        time.sleep(2)
        tail.lines()
        redis_before, catalogue_before = _redis_memory(url), _catalogue_bytes(data)
        names = {p.name for p in paths}
        started = time.monotonic()
        for path in paths:
            os.rename(path, data / "inbox" / path.name)
        decided: dict[str, int] = {}
        first = last = None
        redis_peak = redis_before
        while len(decided) < count and time.monotonic() - started < timeout:
            time.sleep(1.0)
            redis_peak = max(redis_peak, _redis_memory(url))
            for line in tail.lines():
                name = str(line.get("source", "")).rsplit("/", 1)[-1]
                if line.get("event") == "package.decided" and name in names:
                    decided[name] = decided.get(name, 0) + 1
                    when = _epoch(line)
                    first = when if first is None else min(first, when)
                    last = when if last is None else max(last, when)
        time.sleep(5)  # late doubles and the last announcements
        for line in tail.lines():
            name = str(line.get("source", "")).rsplit("/", 1)[-1]
            if line.get("event") == "package.decided" and name in names:
                decided[name] = decided.get(name, 0) + 1
        redis_after, catalogue_after = _redis_memory(url), _catalogue_bytes(data)
        archived = sum(1 for _ in (data / "archive").glob("*/*/*.zip"))
        left = [p for p in (data / "inbox").rglob("*") if p.is_file()]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
        log.close()
    shutil.rmtree(data, ignore_errors=True)
    return {
        "packages": count,
        "decided": len(decided), "lost": count - len(decided),
        "doubled": sum(n - 1 for n in decided.values() if n > 1),
        "archived": archived, "inbox_left": len(left),
        "seconds": round((last or 0) - (first or 0), 1),
        "packages_per_s": round(len(decided) / max(1e-9, (last or 0) - (first or 0)), 2),
        "redis_bytes_per_package_kept": round((redis_after - redis_before) / count),
        "redis_peak_mb": round(redis_peak / 2**20, 1),
        "catalogue_bytes_per_package": round((catalogue_after - catalogue_before) / count),
    }
