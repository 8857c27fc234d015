"""`make soak`: 200 mixed packages dropped as fast as possible into `pipeline run`.

Mixed: valid packages, one of every fault family (not a ZIP, truncated, unsafe path,
encrypted, missing section, bad video, broken form), and duplicates (the same bytes
under a second name). Reports as JSON: outcomes, lost (must be 0), doubled (must be 0),
mails (one per decision), throughput, drop-to-document p50/p95, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support import media, zipcraft  # noqa: E402
from bench.pipeline_run import start_pipeline_run  # noqa: E402
from tests.support.packages import PackageBuilder  # noqa: E402


def _missing_section(i: int) -> bytes:
    b = PackageBuilder(tag=f"soak-{i}")
    b.remove("育婴师初级/实操")
    return b.zip_bytes()


def _bad_video(i: int) -> bytes:
    b = PackageBuilder(tag=f"soak-{i}")
    b.replace("育婴师初级/理论/育婴师初级理论1.mp4", media.mp4(100, 640, 360))
    return b.zip_bytes()


def _broken_form(i: int) -> bytes:
    b = PackageBuilder(tag=f"soak-{i}")
    b.replace("培训教师.json", "{ 这不是 JSON".encode("gbk"))
    return b.zip_bytes()


def _unsafe(i: int) -> bytes:
    return zipcraft.build([zipcraft.stored("../../etc/evil.txt", f"{i}".encode())])


def _encrypted(i: int) -> bytes:
    return zipcraft.build([zipcraft.stored("a/b.json", f"{i}".encode(), flags=0x1)])


FAMILIES: dict[str, Callable[[int], bytes]] = {
    "valid": lambda i: PackageBuilder(tag=f"soak-{i}").zip_bytes(),
    "not_zip": lambda i: b"Rar!\x1a\x07\x01\x00" + os.urandom(2000),
    "truncated": lambda i: (lambda z: z[: len(z) // 2])(PackageBuilder(tag=f"soak-{i}").zip_bytes()),
    "unsafe_path": _unsafe,
    "encrypted": _encrypted,
    "missing_section": _missing_section,
    "bad_video": _bad_video,
    "broken_form": _broken_form,
}
# of every 10 packages: 4 valid, 1 duplicate of a valid one, 5 from the fault families
PATTERN = ["valid", "valid", "valid", "valid", "duplicate", "not_zip", "unsafe_path",
           "missing_section", "bad_video", "broken_form"]
EXTRA = ["truncated", "encrypted"]


def build(stage: Path, count: int) -> dict[str, str]:
    """Write the packages into ``stage``; name -> family."""
    families: dict[str, str] = {}
    last_valid: bytes | None = None
    for i in range(count):
        family = PATTERN[i % len(PATTERN)] if i % 25 else EXTRA[(i // 25) % len(EXTRA)]
        if family == "duplicate" and last_valid is not None:
            data = last_valid
        else:
            family = "valid" if family == "duplicate" else family
            data = FAMILIES[family](i)
            if family == "valid":
                last_valid = data
        name = f"soak{i:03d}-{family}.zip"
        (stage / name).write_bytes(data)
        families[name] = family
    return families


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop, self.peak_total, self.peak_one = pid, threading.Event(), 0, 0

    def run(self) -> None:
        while not self.stop.wait(0.2):
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
                sizes = []
                for p in procs:
                    try:
                        sizes.append(p.memory_info().rss)
                    except psutil.Error:
                        pass
                self.peak_total = max(self.peak_total, sum(sizes))
                self.peak_one = max(self.peak_one, max(sizes, default=0))
            except psutil.Error:
                return


def decided(data: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for area in ("archive", "quarantine"):
        for doc_path in (data / area).glob("*/*/*.json"):
            try:
                doc = json.loads(doc_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # being written
            out.setdefault(doc["package"]["name"], []).append(doc)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pipeline-soak-"))
    data, stage = scratch / "data", scratch / "stage"
    (data / "inbox").mkdir(parents=True)
    stage = data / "stage"  # same file system as the inbox: drops are renames
    stage.mkdir()
    families = build(stage, args.packages)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SMTP_URL")}
    env.update(PIPELINE_DATA_DIR=str(data), PIPELINE_LOG_FORMAT="json", PIPELINE_STALE_UPLOAD_TIMEOUT="3")
    proc, log = start_pipeline_run(env, scratch / "run.log")
    sampler = RssSampler(proc.pid)
    sampler.start()
    try:
        dropped: dict[str, float] = {}
        started = time.perf_counter()
        for name in families:
            os.rename(stage / name, data / "inbox" / name)
            dropped[name] = time.perf_counter()
        seen: dict[str, float] = {}
        while len(seen) < len(families) and time.perf_counter() - started < args.timeout:
            for name in decided(data):
                seen.setdefault(name, time.perf_counter())
            time.sleep(0.05)
        finished = time.perf_counter()
        time.sleep(3)  # let late doubles and mails show
        docs = decided(data)
        outbox = list((data / "outbox").glob("*.eml")) if (data / "outbox").exists() else []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        sampler.stop.set()
    latencies = sorted(seen[n] - dropped[n] for n in seen)
    statuses = Counter(d[0]["status"] for d in docs.values())
    by_family: dict[str, Counter[str]] = {}
    for name, family in families.items():
        by_family.setdefault(family, Counter())[docs[name][0]["status"] if name in docs else "LOST"] += 1
    report = {
        "packages": len(families),
        "outcomes": dict(statuses),
        "by_family": {f: dict(c) for f, c in sorted(by_family.items())},
        "lost": sum(1 for n in families if n not in docs),
        "doubled": sum(1 for n in docs if len(docs[n]) > 1),
        "mails": len(outbox),
        "inbox_left": len([p for p in (data / "inbox").rglob("*") if p.is_file()]),
        "seconds": round(finished - started, 2),
        "throughput_per_s": round(len(seen) / (finished - started), 2),
        "drop_to_document_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "drop_to_document_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3) if latencies else None,
        "peak_rss_mb_all_processes": round(sampler.peak_total / 2**20, 1),
        "peak_rss_mb_largest_process": round(sampler.peak_one / 2**20, 1),
        "scratch": str(scratch),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if report["lost"] or report["doubled"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
