"""How fast `pipeline catalogue rebuild` rebuilds the catalogue from the archive.

The data: K accepted packages (default 1000) archived as the pipeline stores them. Each
is an example package of its own institution (tests/support/integrity.py `package`: the
kit's forms, 6 trainees, 2 teachers, 10 distinct real JPEG photos and 6 MP4 videos per
training), its photos made again at 1280×720, the smallest the default policy accepts
(the photo rules ask for a long side ≥ 1280 and a short side ≥ 720; a smaller JPEG keeps
the data folder and the deciding time sane; the rebuild reads the same number of files and
decodes the same kind of JPEGs). They are decided in this process as the workers decide:
`Composition` + `ingest` + the decided-package step's `record_decision` (what
tests/test_integrity_signals.py's `Deciding` does), with a `MemoryLedger` instead of
Redis, into a live SQLite catalogue; how long deciding took is reported too.

What is measured: `.venv/bin/python -m pipeline catalogue rebuild --json` run as a
separate process with PIPELINE_DATA_DIR on that data folder, DATABASE_URL on a fresh SQLite
file and PIPELINE_CATALOGUE_KEY the key the packages were decided with; its wall time
(process start to exit, migration included) and the `seconds` it reports, `--repeat` times
(each into a new file, page cache warm after the first), as packages/second and seconds
per package (median, min and max of the runs). Each rebuilt catalogue is checked against
the live one: the same number of decisions, trainings, persons, attendance, teaching and
media rows, and equal row for row (tests/support/integrity.py `catalogue_dump`).

Results: a markdown section on standard output, appended (with the machine, the versions,
the commit of the code measured and the command) to bench/results/catalogue-<date>.md. The data folder is deleted at the
end (`--keep` keeps it, and `--data` reuses one kept before: no deciding then, and it is
left in place).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, func, select  # noqa: E402

from bench.catalogue_scale import append_results, code_version, machine  # noqa: E402
from pipeline.app.compose import Composition  # noqa: E402
from pipeline.app.logs import configure_logging  # noqa: E402
from pipeline.app.settings import load_settings  # noqa: E402
from pipeline.catalogue.database import sqlalchemy_url  # noqa: E402
from pipeline.catalogue.schema import attendance, decisions, media, persons, teaching, trainings  # noqa: E402
from pipeline.intake.deciding import ingest  # noqa: E402
from pipeline.intake.ledger import MemoryLedger  # noqa: E402
from pipeline.intake.uploads import IngestRequest  # noqa: E402
from pipeline.ops.catalogue_tasks import record_decision  # noqa: E402
from tests.support.integrity import catalogue_dump, package, scene  # noqa: E402

KEY = "bench-catalogue-key-" + "k" * 24
TABLES = (decisions, trainings, persons, attendance, teaching, media)
CITIES = ("北京", "天津", "上海", "重庆", "石家庄", "太原", "沈阳", "长春", "哈尔滨", "南京", "杭州", "合肥", "福州",
          "南昌", "济南", "郑州", "武汉", "长沙", "广州", "南宁", "海口", "成都", "贵阳", "昆明", "西安", "兰州")


def institution(i: int) -> str:
    """A name of its own for package ``i``: its people (the kit seeds them by institution)
    are its own too."""
    return f"{CITIES[i % len(CITIES)]}第{i + 1}职业技能培训学校"


def settings_env(data: Path, database: Path) -> dict[str, str]:
    return {"PIPELINE_DATA_DIR": str(data), "DATABASE_URL": f"sqlite:///{database}",
            "PIPELINE_CATALOGUE_KEY": KEY}


def decide_packages(data: Path, live: Path, count: int, log: Any) -> dict[str, Any]:
    """Decide ``count`` packages into the store under ``data`` and the live catalogue."""
    configure_logging("console", "warning")  # a line per package otherwise
    ticks = itertools.count()
    # a clock a minute later at every reading: receipt ids sort by time, as in production
    composition = Composition(load_settings(env=settings_env(data, live)), ledger=MemoryLedger(),
                              clock=lambda: datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)
                              + timedelta(minutes=next(ticks)))
    store = composition.services.store
    statuses: dict[str, int] = {}
    build_s = decide_s = 0.0
    zip_bytes = 0
    for i in range(count):
        started = time.perf_counter()
        built = package(institution(i), 1000 + i)
        for n, path in enumerate(built.photos):
            built.files[path] = scene((1000 + i) * 100 + n, 1280, 720)
        account = f"inst{i:05d}"
        path = store.inbox / account / built.zip_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(built.zip())
        zip_bytes += path.stat().st_size
        build_s += time.perf_counter() - started
        started = time.perf_counter()
        request = IngestRequest(f"{account}/{built.zip_name}", path.stat().st_size, str(path.stat().st_mtime_ns))
        outcome = ingest(request, composition.services)
        assert outcome is not None, f"package {i} was not decided"
        document = record_decision(store, composition.catalogue, outcome.receipt_id, outcome.location)
        decide_s += time.perf_counter() - started
        statuses[document["status"]] = statuses.get(document["status"], 0) + 1
        if document["status"] != "accepted":
            raise RuntimeError(f"package {i} was {document['status']}: {document.get('errors')}")
        if (i + 1) % max(1, count // 10) == 0:
            log(f"  {i + 1}/{count} decided ({decide_s / (i + 1):.2f} s each, building {build_s / (i + 1):.2f} s)")
    composition.catalogue_engine.dispose()
    return {"statuses": statuses, "build_s": build_s, "decide_s": decide_s, "zip_mb": zip_bytes / count / 2 ** 20}


def counts(database: Path) -> dict[str, int]:
    engine = create_engine(sqlalchemy_url(f"sqlite:///{database}"))
    try:
        with engine.connect() as c:
            return {t.name: int(c.execute(select(func.count()).select_from(t)).scalar_one()) for t in TABLES}
    finally:
        engine.dispose()


def rebuild(data: Path, database: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(settings_env(data, database), PIPELINE_LOG_FORMAT="json")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", "catalogue", "rebuild", "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"rebuild failed ({done.returncode}): {done.stderr[-2000:]}")
    # the 1-minute load average before and after: another process's work on the machine shows
    return {"wall_s": wall, "stats": json.loads(done.stdout), "load": (load_before, os.getloadavg()[0])}


def spread(values: list[float]) -> str:
    return (f"{statistics.median(values):.1f} (min {min(values):.1f}, max {max(values):.1f})" if len(values) > 1
            else f"{values[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="rebuilds, each into a fresh SQLite file")
    parser.add_argument("--workdir", type=Path, default=None, help="where the data folder goes (default: /tmp)")
    parser.add_argument("--data", type=Path, default=None,
                        help="a folder kept by --keep before (data/ and live.sqlite3): no deciding")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--note", default="", help="a line for the results file")
    parser.add_argument("--no-results", action="store_true", help="do not append to bench/results/")
    args = parser.parse_args()
    code = code_version()  # now: a commit made while this runs is not what is measured

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    folder = args.data or Path(tempfile.mkdtemp(prefix="catalogue-rebuild-", dir=args.workdir))
    data, live = folder / "data", folder / "live.sqlite3"
    try:
        deciding = None
        if args.data is None:
            log(f"deciding {args.packages} packages into {folder}")
            deciding = decide_packages(data, live, args.packages, log)
        expected = counts(live)
        packages = expected["decisions"]
        live_dump = catalogue_dump(f"sqlite:///{live}")
        runs = []
        for n in range(args.repeat):
            target = folder / f"rebuilt{n}.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(str(target) + suffix).unlink(missing_ok=True)
            result = rebuild(data, target)
            got = counts(target)
            result["counts_equal"] = got == expected
            result["rows_equal"] = catalogue_dump(f"sqlite:///{target}") == live_dump
            result["counts"] = got
            runs.append(result)
            log(f"  rebuild {n + 1}: {result['wall_s']:.1f} s wall, {result['stats']['seconds']} s reported, "
                f"{result['stats']['facts_written']} facts written, counts equal {result['counts_equal']}, "
                f"rows equal {result['rows_equal']}")
            for suffix in ("", "-wal", "-shm"):
                Path(str(target) + suffix).unlink(missing_ok=True)
    finally:
        if args.data is None and not args.keep:  # a folder given with --data is the caller's
            shutil.rmtree(folder, ignore_errors=True)

    walls = [r["wall_s"] for r in runs]
    reported = [float(r["stats"]["seconds"]) for r in runs]
    command = ".venv/bin/python -m bench.catalogue_rebuild " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    facts = machine()
    lines = [f"## Catalogue rebuild from the archive, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}", "",
             f"Command: `{command}`", "", "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()), "",
             f"Code measured (at the start): {code}", ""]
    if args.note:
        lines += [args.note, ""]
    lines += [f"Archive: {packages} accepted packages (one training each: 6 trainees, 2 teachers, 10 photos at "
              "1280×720, 6 videos)" + (f", {deciding['zip_mb']:.2f} MB per ZIP; deciding them in this process "
                                       f"(ingest + record_decision, MemoryLedger) took "
                                       f"{deciding['decide_s'] / packages:.2f} s per package"
                                       if deciding else ""),
              "", "Live catalogue rows: " + ", ".join(f"{k} {v:,}" for k, v in expected.items()), "",
              "| measurement | runs | median (min, max) |", "|---|---|---|",
              f"| `pipeline catalogue rebuild` wall time, s | {len(runs)} | {spread(walls)} |",
              f"| the rebuild's own `seconds` (no process start), s | {len(runs)} | {spread(reported)} |",
              f"| packages per second (wall) | {len(runs)} | {spread([packages / w for w in walls])} |",
              f"| milliseconds per package (wall) | {len(runs)} | {spread([w / packages * 1000 for w in walls])} |",
              "", "Load average (1 min) before and after each rebuild: "
              + ", ".join(f"{a:.1f}→{b:.1f}" for a, b in (r["load"] for r in runs)) + " (2 CPUs; the rebuild uses one)",
              "", "Rebuilt catalogue equal to the live one: counts "
              + ("yes" if all(r["counts_equal"] for r in runs) else "NO") + " in every run, row for row "
              + ("yes" if all(r["rows_equal"] for r in runs) else "NO") + " in every run", ""]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_results:
        append_results(text)


if __name__ == "__main__":
    main()
