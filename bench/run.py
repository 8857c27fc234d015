"""`make bench`: how fast the checks run, how much memory they take, and how long a
dropped package waits for its document. Prints one JSON object.

- check: realistic packages (photos ~1.5 MB at 1920×1080, videos ~40 MB, ≈ 250 MB per
  training, media stored) given to one `pipeline check --json` run; its wall time and
  peak RSS, against a plain SHA-256 pass over the same ZIPs (both with a warm page cache).
- latency: 50 small valid packages renamed one by one into the inbox of `pipeline run`
  (embedded Redis, default workers); drop-to-document p50/p95.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support import media  # noqa: E402  (the test suite's real-media makers)
from bench.pipeline_run import start_pipeline_run  # noqa: E402
from tests.support.packages import PackageBuilder  # noqa: E402

MB = 1024 * 1024


def realistic_photo(seed: int) -> bytes:
    return media.jpeg(1920, 1080, quality=80 + seed % 3, noise=True)


def padded_video(seed: int, size: int = 40 * MB) -> bytes:
    """A real 150 s H.264 MP4 followed by a top-level `free` box of random bytes: a valid
    ISO BMFF file of a realistic size (the bytes are read, hashed and copied like a real
    video's; only the parse stays header-sized, as it does for real files)."""
    base = media.mp4(150)
    pad = size - len(base)
    return base + pad.to_bytes(4, "big") + b"free" + os.urandom(pad - 8)


def build_package(folder: Path, index: int, trainings: int) -> Path:
    occupations = [("育婴师", "初级"), ("车工", "中级"), ("电工", "高级"), ("焊工", "技师")]
    counter = iter(range(10_000))
    builder = PackageBuilder(trainings=[(o, lv, 20) for o, lv in occupations[:trainings]], tag=str(index),
                             photo=lambda name: realistic_photo(next(counter)),
                             video=lambda name: padded_video(next(counter)))
    return builder.to_zip(folder / f"package{index}-{trainings}t.zip", store_media=True)


def sha256_pass(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(MB):
                digest.update(chunk)
    return time.perf_counter() - started


def run_check(paths: list[Path]) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "check", "--json", *map(str, paths)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    out, err = proc.communicate()  # small: one JSON line per package
    seconds = time.perf_counter() - started
    statuses = [json.loads(line)["status"] for line in out.decode().splitlines()]
    return {"seconds": seconds, "statuses": statuses, "stderr": err.decode()[-500:]}


def peak_rss_mb(paths: list[Path]) -> float:
    """Peak RSS of the `pipeline check` process itself (ru_maxrss, KiB on Linux)."""
    code = ("import resource, sys, subprocess;"
            "r = subprocess.run([sys.executable, '-m', 'pipeline', 'check', '--json', *sys.argv[1:]],"
            " stdout=subprocess.DEVNULL);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True, text=True,
                         cwd=REPO, check=True)
    return int(out.stdout.strip()) / 1024


def bench_check(scratch: Path, packages: int, trainings: int) -> dict[str, Any]:
    paths = [build_package(scratch, i, trainings) for i in range(packages)]
    big = build_package(scratch, 99, trainings * 2)
    total = sum(p.stat().st_size for p in paths)
    sha256_pass(paths)  # warm the page cache
    run_check(paths)
    check_runs = [run_check(paths)["seconds"] for _ in range(2)]
    sha_runs = [sha256_pass(paths) for _ in range(2)]
    check_s, sha_s = min(check_runs), min(sha_runs)
    result = run_check(paths)
    return {
        "packages": packages,
        "package_mb": round(total / packages / MB, 1),
        "statuses": result["statuses"],
        "check_seconds_total": round(check_s, 2),
        "check_seconds_per_package": round(check_s / packages, 2),
        "check_mb_per_s": round(total / MB / check_s, 1),
        "sha256_seconds_total": round(sha_s, 2),
        "sha256_mb_per_s": round(total / MB / sha_s, 1),
        "check_to_sha256_ratio": round(check_s / sha_s, 2),
        "peak_rss_mb": round(peak_rss_mb(paths), 1),
        "peak_rss_mb_one_package_of_%d_mb" % round(big.stat().st_size / MB): round(peak_rss_mb([big]), 1),
    }


def bench_latency(scratch: Path, count: int) -> dict[str, Any]:
    data = scratch / "data"
    staging = data / "staging"
    staging.mkdir(parents=True)
    sources = []
    for i in range(count):
        path = staging / f"small{i:03d}.zip"
        path.write_bytes(PackageBuilder(tag=f"latency-{i}").zip_bytes())
        sources.append(path)
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PIPELINE_DATA_DIR=str(data), PIPELINE_LOG_FORMAT="json")
    proc, log = start_pipeline_run(env, scratch / "run.log")
    try:
        latencies: list[float] = []
        started_all = time.perf_counter()
        for path in sources:
            dropped = time.perf_counter()
            os.rename(path, data / "inbox" / path.name)
            # its decision folder holds it (only the decision areas are looked at: the
            # work area's scratch folders come and go under a glob)
            while not any(any((data / area).glob(f"*/*/{path.name}")) for area in ("archive", "quarantine")):
                if time.perf_counter() - dropped > 120:
                    raise RuntimeError(f"{path.name} not decided")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - dropped)
        total = time.perf_counter() - started_all
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    latencies.sort()
    return {
        "packages": count,
        "package_kb": round(next(data.glob("archive/*/*/small000.zip")).stat().st_size / 1024),
        "drop": "rename into the inbox, one at a time",
        "drop_to_document_p50_s": round(statistics.median(latencies), 3),
        "drop_to_document_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "drop_to_document_max_s": round(latencies[-1], 3),
        "sequential_total_s": round(total, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=3)
    parser.add_argument("--trainings", type=int, default=1, help="trainings per package (≈ 250 MB each)")
    parser.add_argument("--latency-packages", type=int, default=50)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    try:
        (scratch / "check").mkdir()
        report = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                  "check": bench_check(scratch / "check", args.packages, args.trainings),
                  "latency": bench_latency(scratch / "latency", args.latency_packages)}
        print(json.dumps(report, ensure_ascii=False, indent=2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
