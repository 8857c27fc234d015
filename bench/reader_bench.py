"""Benchmark of :func:`pipeline.check.package_reader.read_package` against a plain SHA-256 pass.

    .venv/bin/python -m bench.reader_bench [--mb 250] [--runs 2] [--keep DIR] [--src DIR]

Builds, in a temporary directory, a realistic report package: per training 10 JPEG-like
photos of ~1.5 MB and 6 MP4-like videos of ~40 MB (incompressible bytes, STORED, as
zippers store media) plus a few small JSON forms (DEFLATED); ``--mb`` scales the number
of trainings (one per ~255 MB) and, below one training, the media sizes. Then it
measures, each ``--runs`` times, and reports the LAST (warm: the page cache is not
dropped, so every run after the first reads the ZIP from memory) and the median:

- ``sha256``: a plain SHA-256 pass over the ZIP (1 MiB reads, hashlib), in a child;
- ``read_package``: the whole check (scan, single-pass hashing, extraction), in a child
  process, timed around the call; ``peak_rss_mb`` is that child's ``ru_maxrss`` and
  ``idle_rss_mb`` the same interpreter after its imports only;
- ``ratio``: read_package seconds / SHA-256 seconds of the last runs (the issue asks for
  <= 3, aims at 2); ``ratio_of_medians`` is steadier on a shared machine.

``--src`` runs read_package from another checkout (its ``pipeline`` package), e.g. the
code before a change, on the same ZIP; ``--keep`` keeps the ZIP for such comparisons.
Prints one JSON object (``all_seconds``: every run). The work directory is emptied and
``os.sync()`` called between runs, outside the timing, so that no run pays for writing
back the previous run's files. The load average is reported: another busy process takes
the second core that read_package uses.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = "培训机构20240101"
TRAINING_MB = 10 * 1.5 + 6 * 40  # media per training, MB (10**6 bytes)
MB = 10**6
MiB = 1 << 20

_CHILD_SHA = """
import hashlib, json, resource, sys, time
path = sys.argv[1]
idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
h = hashlib.sha256()
with open(path, "rb") as f:
    while block := f.read(1 << 20):
        h.update(block)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "sha256": h.hexdigest(), "idle_rss_kb": idle,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

_CHILD_READ = """
import json, resource, sys, time
from pathlib import Path
import pipeline.check.package_reader
from pipeline.check.package_reader import read_package
from pipeline.check.policy import load_policy
limits = load_policy().zip  # read before the baseline: only the reading itself is measured
idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
result = read_package(Path(sys.argv[1]), Path(sys.argv[2]), limits)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "sha256": result.zip_sha256,
                  "problems": [p.code for p in result.problems], "files": len(result.files),
                  "extracted_bytes": sum(f.size for f in result.files), "idle_rss_kb": idle,
                  "module": pipeline.check.package_reader.__file__,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _fill(dst, rng: random.Random, head: bytes, size: int) -> None:  # type: ignore[no-untyped-def]
    dst.write(head)
    left = size - len(head)
    while left > 0:
        n = min(MiB, left)
        dst.write(rng.randbytes(n))
        left -= n


def build_package(path: Path, mb: float, seed: int = 1) -> dict[str, int]:
    """A realistic ZIP of about ``mb`` MB at ``path``; returns member counts."""
    rng = random.Random(seed)
    trainings = max(1, round(mb / TRAINING_MB))
    scale = min(1.0, mb / TRAINING_MB)
    photo, video = int(1.5 * MB * scale), int(40 * MB * scale)
    counts = {"stored": 0, "deflated": 0}
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        zf.writestr(f"{ROOT}/培训方案.json", json.dumps({"form": "plan", "n": trainings}),
                    zipfile.ZIP_DEFLATED)
        counts["deflated"] += 1
        for t in range(trainings):
            base = f"{ROOT}/培训{t + 1:02d}"
            for form in ("签到表", "学员名单", "考核结果"):
                rows = [{"id": i, "name": f"学员{i}", "score": rng.randrange(100)} for i in range(300)]
                zf.writestr(f"{base}/{form}.json", json.dumps(rows, ensure_ascii=False),
                            zipfile.ZIP_DEFLATED)
                counts["deflated"] += 1
            for i in range(10):
                info = zipfile.ZipInfo(f"{base}/照片/照片{i + 1:02d}.jpg", (2024, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=False) as dst:
                    _fill(dst, rng, b"\xff\xd8\xff\xe0", photo)
                counts["stored"] += 1
            for i in range(6):
                info = zipfile.ZipInfo(f"{base}/视频/视频{i + 1}.mp4", (2024, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=False) as dst:
                    _fill(dst, rng, b"\x00\x00\x00\x18ftypmp42", video)
                counts["stored"] += 1
    return counts


def _child(code: str, *args: str, src: Path | None = None) -> dict:  # type: ignore[type-arg]
    src = src or Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True,
                         text=True, cwd=src, env=env)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=250.0, help="package size in MB (default 250)")
    parser.add_argument("--runs", type=int, default=2, help="runs per measurement; the last is kept")
    parser.add_argument("--keep", type=Path, help="build/reuse the ZIP in this directory")
    parser.add_argument("--src", type=Path, help="checkout whose pipeline package to time")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="reader_bench_"))
    try:
        zip_dir = args.keep or tmp
        zip_dir.mkdir(parents=True, exist_ok=True)
        zip_path = zip_dir / f"package_{args.mb:g}mb.zip"
        t = time.perf_counter()
        if zip_path.exists():
            counts = {"stored": -1, "deflated": -1}  # reused, not recounted
        else:
            counts = build_package(zip_path, args.mb)
        build_s = time.perf_counter() - t
        size = zip_path.stat().st_size
        work = tmp / "work"

        sha_runs, read_runs = [], []
        os.sync()
        for _ in range(args.runs):
            sha_runs.append(_child(_CHILD_SHA, str(zip_path)))
        for _ in range(args.runs):
            shutil.rmtree(work, ignore_errors=True)
            os.sync()  # the previous run's extracted files are not being written back meanwhile
            read_runs.append(_child(_CHILD_READ, str(zip_path), str(work), src=args.src))
        shutil.rmtree(work, ignore_errors=True)
        sha, read = sha_runs[-1], read_runs[-1]
        assert read["problems"] == [], read["problems"]
        assert read["sha256"] == sha["sha256"], "read_package and hashlib disagree"

        def mbps(seconds: float) -> float:
            return round(size / MB / seconds, 1)

        report = {
            "zip_mb": round(size / MB, 1),
            "members": counts,
            "build_seconds": round(build_s, 2),
            "runs": args.runs,
            "kept": "last run (warm page cache)",
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "src": str(args.src or "this checkout"),
            "sha256": {"seconds": round(sha["seconds"], 3), "mb_per_s": mbps(sha["seconds"]),
                       "all_seconds": [round(r["seconds"], 3) for r in sha_runs],
                       "median_seconds": round(statistics.median(r["seconds"] for r in sha_runs), 3)},
            "read_package": {
                "seconds": round(read["seconds"], 3), "mb_per_s": mbps(read["seconds"]),
                "all_seconds": [round(r["seconds"], 3) for r in read_runs],
                "median_seconds": round(statistics.median(r["seconds"] for r in read_runs), 3),
                "files": read["files"], "extracted_mb": round(read["extracted_bytes"] / MB, 1),
                "peak_rss_mb": round(read["peak_rss_kb"] / 1024, 1),
                "idle_rss_mb": round(read["idle_rss_kb"] / 1024, 1),
                "module": read["module"],
            },
            "ratio": round(read["seconds"] / sha["seconds"], 2),  # last runs
            "ratio_of_medians": round(statistics.median(r["seconds"] for r in read_runs)
                                      / statistics.median(r["seconds"] for r in sha_runs), 2),
        }
        print(json.dumps(report, ensure_ascii=False, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
