"""Packages per second through `pipeline run`, and what each process spends per package.

Small valid packages, all distinct, are renamed into the inbox at once (one burst) for
each shape of workers (processes × package threads). Reported per shape:

- ``packages_per_s``: packages divided by the time from the watcher's first
  ``watcher.enqueued`` to the last ``package.decided`` (the quiet period, which every
  upload waits once whatever the load, is left out);
- drop-to-decision p50/p95 (from the rename to the ``package.decided`` line), and the same
  less the quiet period;
- CPU seconds per package of each kind of process (supervisor, watcher, Redis, workers
  with their video-probe children), read from /proc before and after the burst.

Timestamps come from the pipeline's own JSON log lines, so nothing polls the disk while the
pipeline works: on 2 cores every poll would be taken from the pipeline.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.pipeline_run import start_pipeline_run  # noqa: E402
from tests.support import media  # noqa: E402
from tests.support.packages import PackageBuilder  # noqa: E402

QUIET_PERIOD_S = 2.0  # the default PIPELINE_QUIET_PERIOD


_SYLLABLES = "东南西北春夏秋冬金木水火土山河湖海松竹梅兰"


def institution_name(i: int) -> str:
    """A distinct institution per package: its trainees and teachers (made from its name)
    are distinct too, as between real institutions. Packages of one institution with the
    same people would make each new package meet every earlier one in the integrity
    signals, which is a measurement of those signals, not of throughput."""
    n = len(_SYLLABLES)
    return f"新城区{_SYLLABLES[i % n]}{_SYLLABLES[(i // n) % n]}{_SYLLABLES[(i // n // n) % n]}职业培训学校"


def distinct_photo(rng: random.Random) -> bytes:
    """A real 1280×720 JPEG whose picture (and so its perceptual hash) is its own: an 8×8
    grid of random colours, smoothly enlarged. The suite's one photo in every package would
    make each package's photos "reused" from every earlier one (W_MEDIA_REUSED)."""
    grid = Image.frombytes("RGB", (8, 8), rng.randbytes(8 * 8 * 3))
    out = io.BytesIO()
    smooth = grid.resize((160, 90), Image.Resampling.BILINEAR)  # (then 8×8-pixel steps: quick)
    smooth.resize((1280, 720), Image.Resampling.NEAREST).save(out, "JPEG", quality=80)
    return out.getvalue()


def distinct_video(rng: random.Random) -> bytes:
    """The suite's real 150 s MP4 with a ``free`` box of random bytes after it: a file of
    its own (its SHA-256 differs), measured exactly as the original."""
    pad = rng.randbytes(64)
    return media.mp4() + (8 + len(pad)).to_bytes(4, "big") + b"free" + pad


def distinct_package(i: int, tag: str) -> bytes:
    """A valid small package with its own institution, people, photos and videos."""
    rng = random.Random(f"{tag}-{i}")
    return PackageBuilder(institution=institution_name(i), tag=f"{tag}-{i}",
                          photo=lambda name: distinct_photo(rng), video=lambda name: distinct_video(rng)).zip_bytes()


def build_packages(stage: Path, count: int, tag: str, first: int = 0) -> list[Path]:
    stage.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(first, first + count):
        path = stage / f"{tag}{i:04d}.zip"
        path.write_bytes(distinct_package(i, tag))
        paths.append(path)
    return paths


def role_of(proc: psutil.Process) -> str:
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "gone"
    if "redis-server" in cmd:
        return "redis"
    if "pymediainfo" in cmd or "MediaInfo" in cmd:
        return "video probes"
    for role in ("watch", "worker", "web", "run"):
        if f"pipeline {role}" in cmd or cmd.endswith(f" {role}") or f"pipeline.__main__ {role}" in cmd:
            return {"run": "supervisor", "watch": "watcher"}.get(role, role)
    return "other"


def cpu_by_role(root_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of every process of the tree, by role, including the
    children each has already reaped (video probes that ended)."""
    totals: Counter[str] = Counter()
    root = psutil.Process(root_pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        role = role_of(proc)
        totals[role] += times.user + times.system
        reaped = times.children_user + times.children_system
        if reaped:
            totals["video probes" if role == "worker" else role] += reaped
    return dict(totals)


class LogTail:
    """New JSON lines of the pipeline's log, read from where the last read stopped."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.partial = path, 0, b""

    def lines(self) -> list[dict[str, Any]]:
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        data = self.partial + data
        complete, _, self.partial = data.rpartition(b"\n")
        out = []
        for raw in complete.split(b"\n"):
            if raw.startswith(b"{"):
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    pass
        return out


def _epoch(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def pipeline_env(data: Path, **extra: str) -> dict[str, str]:
    """`pipeline run`'s environment for a measurement: its own data folder, embedded Redis,
    JSON log lines, no web application (nothing measured needs it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SMTP_URL")}
    env.update(PIPELINE_DATA_DIR=str(data), PIPELINE_LOG_FORMAT="json", PIPELINE_WEB_PORT="0", **extra)
    return env


def wait_for_workers(tail: LogTail, processes: int, log_path: Path) -> list[dict[str, Any]]:
    """The log's lines until ``processes`` workers have started."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while sum(line.get("event") == "worker.started" for line in seen) < processes:
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers did not start (see {log_path})")
        time.sleep(0.1)
        seen += tail.lines()
    return seen


def run_shape(scratch: Path, processes: int, threads: int, count: int, timeout: float = 600) -> dict[str, Any]:
    """One burst of ``count`` packages through a fresh `pipeline run` of this shape."""
    data = scratch / f"p{processes}t{threads}"
    shutil.rmtree(data, ignore_errors=True)
    stage = data / "stage"  # same file system as the inbox: drops are renames
    paths = build_packages(stage, count, f"p{processes}t{threads}-")
    env = pipeline_env(data, PIPELINE_WORKER_PROCESSES=str(processes), PIPELINE_WORKER_THREADS=str(threads))
    log_path = data / "run.log"
    proc, log = start_pipeline_run(env, log_path)
    tail = LogTail(log_path)
    try:
        wait_for_workers(tail, processes, log_path)
        time.sleep(1.0)  # let start-up work (catalogue, first scan) settle before the CPU baseline
        tail.lines()
        before = cpu_by_role(proc.pid)
        dropped: dict[str, float] = {}
        for path in paths:
            os.rename(path, data / "inbox" / path.name)
            dropped[path.name] = time.time()
        decided: dict[str, float] = {}
        statuses: Counter[str] = Counter()
        doubled = 0
        enqueued: list[float] = []
        deadline = time.monotonic() + timeout
        while len(decided) < count and time.monotonic() < deadline:
            time.sleep(0.25)
            for line in tail.lines():
                event, name = line.get("event"), str(line.get("source", "")).rsplit("/", 1)[-1]
                if event == "watcher.enqueued":
                    enqueued.append(_epoch(line))
                elif event == "package.decided" and name in dropped:
                    if name in decided:
                        doubled += 1
                    decided[name] = _epoch(line)
                    statuses[line.get("status", "?")] += 1
        after = cpu_by_role(proc.pid)
        # late doubles would show in the next seconds
        time.sleep(2)
        doubled += sum(1 for line in tail.lines() if line.get("event") == "package.decided"
                       and str(line.get("source", "")).rsplit("/", 1)[-1] in dropped)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()
    if len(decided) < count:
        raise RuntimeError(f"{count - len(decided)} packages not decided (see {log_path})")
    latencies = [decided[n] - dropped[n] for n in decided]
    span = max(decided.values()) - min(enqueued)
    cpu = {role: round((after.get(role, 0) - before.get(role, 0)) / count, 4)
           for role in sorted(set(before) | set(after)) if role != "gone"}
    shutil.rmtree(data, ignore_errors=True)
    return {
        "processes": processes, "threads": threads, "packages": count,
        "statuses": dict(statuses), "lost": count - len(decided), "doubled": doubled,
        "packages_per_s": round(count / span, 2),
        "drop_to_decision_p50_s": round(statistics.median(latencies), 3),
        "drop_to_decision_p95_s": round(_percentile(latencies, 0.95), 3),
        "beyond_quiet_period_p50_s": round(statistics.median(latencies) - QUIET_PERIOD_S, 3),
        "beyond_quiet_period_p95_s": round(_percentile(latencies, 0.95) - QUIET_PERIOD_S, 3),
        "cpu_s_per_package": cpu,
        "cpu_s_per_package_total": round(sum(cpu.values()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=80)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=1, help="bursts per shape (the median is kept)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pipeline-throughput-"))
    try:
        results = []
        for processes in map(int, args.processes.split(",")):
            for threads in map(int, args.threads.split(",")):
                runs = [run_shape(scratch, processes, threads, args.packages) for _ in range(args.runs)]
                runs.sort(key=lambda r: r["packages_per_s"])
                best = dict(runs[len(runs) // 2])
                best["packages_per_s_runs"] = [r["packages_per_s"] for r in runs]
                results.append(best)
                print(json.dumps(best, ensure_ascii=False), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
