"""`make bench`: every figure of issue 19 in one table (the machine, the date, the commit).

- check: four realistic packages (photos ~1.4 MB at 1920×1080, videos ~40 MB, ≈ 265 MB
  each, media stored) given to one `pipeline check --json` run: the median wall time of
  three runs against the median of three plain SHA-256 passes over the same ZIPs (page
  cache warm); peak RSS of the batch, and of one package of 300 MB, 2 GB and a ZIP64
  package over 4 GB (videos padded with a ``free`` box of zeros, stored);
- throughput: 80 small distinct packages at once through `pipeline run` for 1, 2, 4
  worker processes × 1, 2 package threads (bench/throughput.py);
- latency: small packages renamed one at a time into an idle pipeline, by stage
  (bench/latency.py);
- burst: 2,000 distinct packages at once: lost, doubled, Redis memory and catalogue
  growth per package.

``--quick`` runs a smaller version of each (for trying the bench itself).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
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


def big_package(path: Path, total_bytes: int) -> Path:
    """A valid package of about ``total_bytes``: as many trainings as it takes (six videos
    each, every video padded to at most 48 MB by a ``free`` box of zeros: under the
    policy's 50 MiB, so the package is accepted and every part of the check runs), written
    member by member (ZIP64 as soon as a member or an offset needs it: zipfile's
    ``force_zip64``), media stored."""
    import itertools
    import zipfile

    video_bytes = 48 * MB
    trainings = max(1, -(-total_bytes // (6 * video_bytes)))
    pairs = list(itertools.product(("育婴师", "车工", "电工", "焊工"), ("初级", "中级", "高级", "技师", "高级技师")))
    files = PackageBuilder(trainings=[(o, lv, 20) for o, lv in pairs[:trainings]], tag=path.stem).build()
    videos = [name for name in files if name.endswith(".mp4")]
    others = sum(len(data) for name, data in files.items() if name not in videos)
    pad_each = max(0, min(video_bytes, (total_bytes - others) // len(videos)) - len(files[videos[0]]) - 8)
    zeros = bytes(8 * MB)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 20, 9, 0, 0))
            info.external_attr = 0o100644 << 16
            media_file = name.lower().endswith((".mp4", ".jpg", ".png"))
            info.compress_type = zipfile.ZIP_STORED if media_file else zipfile.ZIP_DEFLATED
            if name not in videos:
                zf.writestr(info, data)
                continue
            with zf.open(info, "w", force_zip64=True) as out:
                out.write(data + (pad_each + 8).to_bytes(4, "big") + b"free")
                left = pad_each
                while left:
                    out.write(zeros[:min(left, len(zeros))])
                    left -= min(left, len(zeros))
    return path


def bench_check(scratch: Path, packages: int, trainings: int, runs: int = 3,
                big_sizes: tuple[int, ...] = (300 * MB, 2048 * MB, 4400 * MB)) -> dict[str, Any]:
    paths = [build_package(scratch, i, trainings) for i in range(packages)]
    total = sum(p.stat().st_size for p in paths)
    sha256_pass(paths)  # warm the page cache
    results = [run_check(paths) for _ in range(runs + 1)][1:]  # (the first warms up)
    check_runs = [r["seconds"] for r in results]
    sha_runs = [sha256_pass(paths) for _ in range(runs)]
    check_s, sha_s = statistics.median(check_runs), statistics.median(sha_runs)
    report: dict[str, Any] = {
        "packages": packages,
        "package_mb": round(total / packages / MB, 1),
        "statuses": results[-1]["statuses"],
        "check_seconds_runs": [round(x, 2) for x in check_runs],
        "sha256_seconds_runs": [round(x, 2) for x in sha_runs],
        "check_seconds_total": round(check_s, 2),
        "sha256_seconds_total": round(sha_s, 2),
        "check_to_sha256_ratio": round(check_s / sha_s, 2),
        "check_to_sha256_ratio_range": [round(min(check_runs) / max(sha_runs), 2),
                                        round(max(check_runs) / min(sha_runs), 2)],
        "peak_rss_mb": round(peak_rss_mb(paths), 1),
        "big": [],
    }
    for path in paths:
        path.unlink()
    for size in big_sizes:
        path = big_package(scratch / f"big-{size // MB}.zip", size)
        started = time.perf_counter()
        status = run_check([path])["statuses"]
        seconds = time.perf_counter() - started
        report["big"].append({"mb": round(path.stat().st_size / MB), "zip64": path.stat().st_size >= 2**32,
                              "statuses": status, "seconds": round(seconds, 1),
                              "peak_rss_mb": round(peak_rss_mb([path]), 1)})
        path.unlink()
    return report


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                      if line.startswith("model name")), "")
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, Python {sys.version.split()[0]}"


def table(report: dict[str, Any]) -> str:
    """The one table `make bench` prints (markdown: docs/performance.md keeps it)."""
    rows: list[tuple[str, str, str]] = []
    if "check" in report:
        rows += _check_rows(report["check"])
    if "throughput" in report:
        rows += _throughput_rows(report["throughput"])
    if "latency" in report:
        rows += _latency_rows(report["latency"])
    if "burst" in report:
        rows += _burst_rows(report["burst"])
    lines = [f"Machine: {report['machine']}; date {report['date']}; commit {report['commit']}", "",
             "| figure | measured | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def _check_rows(c: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    rows.append((f"check: {c['packages']} × {c['package_mb']} MB in one `pipeline check` (median of "
                 f"{len(c['check_seconds_runs'])})", f"{c['check_seconds_total']} s; SHA-256 pass "
                 f"{c['sha256_seconds_total']} s; **{c['check_to_sha256_ratio']}×** "
                 f"(runs {c['check_seconds_runs']} / {c['sha256_seconds_runs']})", "≤ 1.5×"))
    rows.append(("check: peak RSS of the batch", f"{c['peak_rss_mb']} MB", "≤ 100 MB"))
    for big in c["big"]:
        rows.append((f"check: peak RSS, one package of {big['mb']} MB{' (ZIP64)' if big['zip64'] else ''}",
                     f"{big['peak_rss_mb']} MB ({big['seconds']} s, {', '.join(big['statuses'])})", "≤ 100 MB"))
    return rows


def _throughput_rows(throughput: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    shapes = {(t["processes"], t["threads"]): t for t in throughput}
    for (p, t), r in sorted(shapes.items()):
        cpu = r["cpu_s_per_package"]
        rows.append((f"throughput: {p} process(es) × {t} thread(s), {r['packages']} packages",
                     f"**{r['packages_per_s']}/s**, drop→decision p50 {r['drop_to_decision_p50_s']} s, p95 "
                     f"{r['drop_to_decision_p95_s']} s; CPU s/package: worker {cpu.get('worker', 0):.3f}, probes "
                     f"{cpu.get('video probes', 0):.3f}, Redis {cpu.get('redis', 0):.4f}, watcher "
                     f"{cpu.get('watcher', 0):.4f}, supervisor {cpu.get('supervisor', 0):.4f}, web "
                     f"{cpu.get('web', 0):.4f}; lost {r['lost']}, doubled {r['doubled']}", ""))
    if (1, 1) in shapes and (2, 1) in shapes:
        ratio = shapes[(2, 1)]["packages_per_s"] / shapes[(1, 1)]["packages_per_s"]
        rows.append(("throughput: 2 processes / 1 process (1 thread each)", f"**{ratio:.2f}×**", "≥ 1.8×"))
    return rows


def _latency_rows(lat: dict[str, Any]) -> list[tuple[str, str, str]]:
    stages = ", ".join(f"{k.replace('_', ' ')} {v * 1000:.0f}" for k, v in lat["stages_p50_s"].items())
    stages95 = ", ".join(f"{k.replace('_', ' ')} {v * 1000:.0f}" for k, v in lat["stages_p95_s"].items())
    return [(f"latency: idle pipeline, {lat['packages']} renames one at a time",
                 f"p50 {lat['drop_to_decision_p50_s']} s, **p95 {lat['drop_to_decision_p95_s']} s** (max "
                 f"{lat['drop_to_decision_max_s']} s); ms p50: {stages}; ms p95: {stages95}; first check per "
                 f"worker {lat['first_two_check_s']} s", "≤ 0.3 s p95")]


def _burst_rows(b: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f"burst: {b['packages']} packages at once (2 × 2)",
                 f"lost **{b['lost']}**, doubled **{b['doubled']}**, {b['packages_per_s']}/s; Redis "
                 f"{b['redis_bytes_per_package_kept']} B/package kept (peak {b['redis_peak_mb']} MB); catalogue "
                 f"{b['catalogue_bytes_per_package'] / 1024:.1f} KiB/package", "0 lost, 0 doubled")]


def main() -> None:
    from bench.latency import bench_burst, bench_latency
    from bench.throughput import run_shape

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller run of every part")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--parts", default="check,throughput,latency,burst",
                        help="which parts to run (comma-separated; all by default)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    quick = args.quick
    try:
        (scratch / "check").mkdir()
        report: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "commit": git_commit()}
        parts = set(args.parts.split(","))
        if "check" in parts:
            report["check"] = bench_check(scratch / "check", 2 if quick else 4, 1, runs=1 if quick else 3,
                                          big_sizes=(300 * MB,) if quick else (300 * MB, 2048 * MB, 4400 * MB))
        if "throughput" in parts:
            shapes = [(1, 1), (2, 1)] if quick else [(p, t) for p in (1, 2, 4) for t in (1, 2)]
            report["throughput"] = [run_shape(scratch, p, t, 30 if quick else 80) for p, t in shapes]
        if "latency" in parts:
            report["latency"] = bench_latency(scratch, 10 if quick else 40)
        if "burst" in parts:
            report["burst"] = bench_burst(scratch, 100 if quick else 2000)
        if args.json:
            args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        print(table(report))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
