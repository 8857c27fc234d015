"""Page timings of the web application at N catalogued packages (default 100,000): issue 18's
"package page, search" figure.

The data folder (`--keep FOLDER` builds it there and keeps it; `--reuse FOLDER` times one
built before, no building; otherwise a temporary folder, removed at the end):

- **Synthetic rows** (N packages): bench/catalogue_scale.py's generator and SQLite loader
  (the pipeline's migrated schema, rows inserted in bulk through the Core tables' INSERT
  statements, the indexes built after), spread over the three years before the run's day,
  with two changes made here to each chunk: ~15 % of the packages are *rejected* (status,
  1–3 error codes drawn with realistic weights, the location in quarantine/, no facts rows:
  their training, attendance, teaching and media rows are dropped, as the decided-package
  step writes none for a rejected one) and ~1 % belong to one institution, account
  `xinghuo` (新城区星火职业培训学校: ~1,000 packages, the institution whose home page is
  timed); the rest are spread over N / 200 institutions. The decisions, trainings,
  persons, attendance, teaching and media tables are those `DecisionCatalogue.record`
  writes. After the load the statistics ANALYZE made are deleted (the pipeline never runs
  ANALYZE on its SQLite file: the web reads the catalogue with the plans it gets without).
  These rows have **no document and no ZIP in the store**: a package page of one is "not
  found" (`Ops.receipt` reads the document the catalogue's `location` names).
- **Real packages** (`--real`, default 300), decided afterwards into the same catalogue and
  store as the workers decide them: the kit's example package (tests/support/integrity.py
  `package`: `pipeline.kit.example.package_files`, 6 trainees, 2 teachers, its photos
  made distinct and at 1280×720, 6 videos), each of an institution of its own, dropped in
  the inbox and decided by `ingest` + the decided-package step's `record_decision`
  (`Composition` with a `MemoryLedger`, as bench/catalogue_rebuild.py); every fourth has a
  photo taken out, so it is rejected (MEDIA_COUNT). Their documents and archived (or
  quarantined) ZIPs are in the store: the package pages and JSON timed are theirs, and the
  person searched by ID number is one of their trainees.

The web application is the real one: `pipeline web` as a subprocess (tests/support/websites.py
`web_process`: a free loopback port, PIPELINE_DATA_DIR on the folder, no Redis), logins made
with `pipeline web-user add` (an inspector; an institution login bound to account `xinghuo`
in an institution registry written into the folder). An HTTP client (httpx2, the
maintained httpx that the project's dev dependencies hold; one keep-alive connection, one
request at a time) logs in through the log-in form and times each page, `--warmup`
unrecorded requests then `--requests` timed ones, from sending the request to the last byte
of the answer; every answer must be 200. The whole set is run `--runs` times (default 3);
the table gives p50/p95/max of all runs' samples together and the spread of the runs' p95s.

Pages (inspector unless said): the home page (the 200 newest decisions); a package page
and its document as JSON (the real receipts in turn); the search by a fragment of a receipt
id (a synthetic receipt's first 12 characters, another each request), by institution text
(第k职业培训学校, another k each request), by occupation and level (the 16 in turn), by
result = rejected with an error code (the codes in turn), by a 30-day range of decision
dates (another each request); the person search by ID number (POST with the form's CSRF
token; real trainees in turn); the dashboard; the institution's home page (its 200
newest of ~1,000).

Then, in this process, on the same folder (the server stopped): the SQL statements each page
runs with their EXPLAIN QUERY PLAN (full scans listed), and a cProfile of every page whose
p95 is over `--slow-ms` (200), through the same application (`Composition.web_app()`,
Starlette's test client).

The code measured is HEAD's (`pipeline`, `schemas`, `workers`, `tests/support` exported with
`git archive` into a temporary folder, first on the path of this process and of the server:
the working tree may hold others' changes under way); `--worktree` measures the working tree.

Results: a markdown section on standard output, appended to bench/results/web-pages-<date>.md
(machine, Python, commit, command). Smoke run: `--packages 2000` (about 4 minutes).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import re
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone, UTC
from pathlib import Path
from typing import Any
from collections.abc import Callable

REPO = Path(__file__).resolve().parent.parent


def _code_root() -> Path:
    """Where the pipeline's code measured comes from: HEAD's `pipeline`, `schemas`, `workers`
    and `tests/support`, exported with `git archive` into a temporary folder (the working
    tree may hold others' changes under way); `--worktree`: the working tree as it is."""
    if "--worktree" in sys.argv:
        return REPO
    import atexit
    import tarfile

    root = Path(tempfile.mkdtemp(prefix="web-pages-code-"))
    atexit.register(shutil.rmtree, root, True)
    exported = subprocess.run(["git", "archive", "HEAD", "pipeline", "schemas", "workers", "tests/__init__.py",
                               "tests/support"], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        tar.extractall(root, filter="data")
    return root


CODE = _code_root()
sys.path[:0] = [str(CODE)] + ([str(REPO)] if CODE != REPO else [])
# the code's packages first, from CODE: bench/catalogue_scale.py puts REPO first on the path when imported
import pipeline, schemas, tests, workers  # noqa: F401, E401

import httpx2
from sqlalchemy import event

import bench.catalogue_scale as scale
from bench.catalogue_rebuild import institution as real_institution
from bench.catalogue_scale import OCCUPATIONS, SPAN_S, SqliteTarget, Synthetic, code_version, machine
from pipeline.app.compose import Composition
from pipeline.app.logs import configure_logging
from pipeline.app.settings import load_settings
from pipeline.intake.deciding import ingest
from pipeline.intake.ledger import MemoryLedger
from pipeline.intake.uploads import IngestRequest
from pipeline.ops.catalogue_tasks import record_decision
from tests.support.integrity import package, scene
from tests.support.websites import csrf_of, web_process

RESULTS = REPO / "bench" / "results"
CST = timezone(timedelta(hours=8))
PASSWORD = "bench web pages password"
BIG_ACCOUNT, BIG_INSTITUTION = "xinghuo", "新城区星火职业培训学校"
REGISTRY = f"""[[institution]]
name = "{BIG_INSTITUTION}"
email = ["office@xinghuo.example"]
accounts = ["{BIG_ACCOUNT}"]
"""
REJECTED_SHARE, BIG_SHARE = 0.15, 0.01
#: error codes of the synthetic rejections, with weights (media and forms the most frequent)
ERROR_CODES = {"MEDIA_COUNT": 30, "IMG_RESOLUTION": 12, "FORM_SIGNIN": 10, "FORM_HOURS": 8, "NAME_SEQUENCE": 8,
               "HIER_SECTION_MISSING": 8, "VID_DURATION": 6, "FORM_SCHEMA": 6, "FORM_ID_NUMBER": 5, "FORM_DATE": 4,
               "PKG_CORRUPT": 3}
# the decisions row's columns (bench/catalogue_scale.py's order, the Core table's)
D_STATUS, D_INSTITUTION, D_NAME, D_ACCOUNT, D_SOURCE, D_LOCATION, D_CODES, D_ERRORS, D_FACTS = \
    1, 5, 7, 10, 11, 12, 13, 14, 22


def measured_head() -> str:
    head = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=REPO, capture_output=True, text=True,
                          check=False).stdout.strip()
    return f"`{head[:90]}` (HEAD's code, exported with git archive: uncommitted changes in the working tree not measured)"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the data folder ---------------------------------------------------------------------------


class WebSynthetic(Synthetic):
    """catalogue_scale's packages, with rejections and one large institution (module docstring)."""

    def __init__(self, packages: int, seed: int) -> None:
        super().__init__(packages, seed)
        self.mix = random.Random(seed + 1)
        self.codes, self.weights = list(ERROR_CODES), list(ERROR_CODES.values())
        self.rejected = self.big = 0

    def chunk(self, first: int, count: int) -> dict[str, list[tuple[Any, ...]]]:
        out = super().chunk(first, count)
        mix = self.mix
        dropped: set[int] = set()
        big: set[int] = set()
        rows = out["decisions"]
        for n, row in enumerate(rows):
            tid = first + n + 1
            r = list(row)
            if mix.random() < BIG_SHARE:
                big.add(tid)
                day = r[6].replace("-", "")
                r[D_INSTITUTION], r[D_ACCOUNT] = BIG_INSTITUTION, BIG_ACCOUNT
                r[D_NAME] = f"{BIG_INSTITUTION}{day}.zip"
                r[D_SOURCE] = f"{BIG_ACCOUNT}/{r[D_NAME]}"
            if mix.random() < REJECTED_SHARE:
                dropped.add(tid)
                codes = sorted(set(mix.choices(self.codes, self.weights, k=mix.choice((1, 1, 1, 2, 3)))))
                r[D_STATUS] = "rejected"
                r[D_LOCATION] = r[D_LOCATION].replace("archive/", "quarantine/", 1)
                r[D_CODES], r[D_ERRORS], r[D_FACTS] = json.dumps(codes), len(codes) + mix.randrange(4), 0
            rows[n] = tuple(r)
        self.rejected += len(dropped)
        self.big += len(big)
        out["trainings"] = [tuple(BIG_INSTITUTION if (k == 3 and t[0] in big) else v for k, v in enumerate(t))
                            for t in out["trainings"] if t[0] not in dropped]
        removed_attendance = sum(scale.SESSIONS - (s[2] >= 0) for s in out[scale.SLOTS] if s[0] in dropped)
        before = {name: len(out[name]) for name in ("trainings", "teaching", "media")}
        out[scale.SLOTS] = [s for s in out[scale.SLOTS] if s[0] not in dropped]
        out[scale.SESSIONS_TABLE] = [s for s in out[scale.SESSIONS_TABLE] if s[0] not in dropped]
        out["teaching"] = [t for t in out["teaching"] if t[1] not in dropped]
        out["media"] = [m for m in out["media"] if m[1] not in dropped]
        self.rows["trainings"] -= len(dropped)
        self.rows["attendance"] -= removed_attendance
        for name in ("teaching", "media"):
            self.rows[name] -= before[name] - len(out[name])
        return out


def decide_real(data: Path, count: int) -> dict[str, Any]:
    """``count`` example packages decided into ``data``'s store and catalogue as the workers
    decide them; every fourth without one photo (rejected)."""
    configure_logging("console", "warning")
    ticks = iter(range(10 ** 9))
    composition = Composition(load_settings(env={"PIPELINE_DATA_DIR": str(data)}), ledger=MemoryLedger(),
                              clock=lambda: datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
                              + timedelta(minutes=next(ticks)))
    store = composition.services.store
    out: dict[str, Any] = {"accepted": [], "rejected": [], "id_numbers": [], "other": [], "codes": {}}
    started = time.perf_counter()
    for i in range(count):
        built = package(real_institution(i), 5000 + i)
        for n, path in enumerate(built.photos):
            built.files[path] = scene((5000 + i) * 100 + n, 1280, 720)
        if i % 4 == 3:
            del built.files[built.photos[-1]]
        account = f"real{i:04d}"
        path = store.inbox / account / built.zip_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(built.zip())
        request = IngestRequest(f"{account}/{built.zip_name}", path.stat().st_size, str(path.stat().st_mtime_ns))
        outcome = ingest(request, composition.services)
        assert outcome is not None, f"real package {i} was not decided"
        document = record_decision(store, composition.catalogue, outcome.receipt_id, outcome.location)
        status = document["status"]
        out[status if status in ("accepted", "rejected") else "other"].append(outcome.receipt_id)
        for e in document.get("errors") or []:
            out["codes"][e["code"]] = out["codes"].get(e["code"], 0) + 1
        if status == "accepted":
            out["id_numbers"].append(built.first_trainee()["id_number"])
        if (i + 1) % max(1, count // 5) == 0:
            log(f"  {i + 1}/{count} real packages decided ({(time.perf_counter() - started) / (i + 1):.2f} s each)")
    out["seconds"] = time.perf_counter() - started
    composition.catalogue_engine.dispose()
    return out


def build(folder: Path, packages: int, real: int, seed: int) -> dict[str, Any]:
    data = folder / "data"
    data.mkdir(parents=True)
    (data / "institutions.toml").write_text(REGISTRY, encoding="utf-8")
    # the synthetic decisions end on the day before the run's (the dashboard's 30 days hold some)
    scale.T0 = datetime.combine(date.today(), datetime.min.time(), CST) - timedelta(seconds=SPAN_S)
    synthetic = WebSynthetic(packages, seed)
    target = SqliteTarget(data)
    log(f"loading {packages:,} synthetic packages")
    started = time.perf_counter()
    timings = target.load(synthetic, 10_000, log)
    target.drop_statistics()
    load_s = time.perf_counter() - started
    log(f"  loaded in {load_s:.0f} s")
    with sqlite3.connect(target.path) as db:  # receipts for the searches: a sample of the synthetic ones
        sample = [r[0] for r in db.execute("SELECT receipt_id FROM decisions ORDER BY random() LIMIT 2000")]
    log(f"deciding {real} real packages")
    decided = decide_real(data, real)
    manifest = {"packages": packages, "real": real, "seed": seed, "synthetic_rows": dict(synthetic.rows),
                "synthetic_rejected": synthetic.rejected, "synthetic_big": synthetic.big,
                "load_s": load_s, "load": timings, "synthetic_receipts": sample, **decided,
                "built_at": datetime.now().astimezone().isoformat(timespec="seconds"),
                "code": measured_head() if CODE != REPO else code_version()}
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def web_env(data: Path) -> dict[str, str]:
    """The server's and web-user's environment: the folder, the registry, no Redis; the
    code from CODE (PYTHONSAFEPATH: not the working directory's)."""
    return {"PIPELINE_DATA_DIR": str(data), "PIPELINE_INSTITUTIONS": str(data / "institutions.toml"),
            "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", "PYTHONPATH": str(CODE),
            "PYTHONSAFEPATH": "1"}


def add_logins(data: Path) -> None:
    env = {**web_env(data), "PATH": "/usr/bin:/bin"}
    for argv in (["inspector", "--role", "inspector"], ["clerk", "--role", "institution", "--account", BIG_ACCOUNT]):
        subprocess.run([sys.executable, "-m", "pipeline", "web-user", "add", *argv], env=env, cwd=REPO,
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)


# -- the pages -----------------------------------------------------------------------------------


def pages(manifest: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """What is timed: name, who, and a function of the request's number giving (method, path, form)."""
    rng = random.Random(seed + 2)
    receipts = manifest["accepted"] + manifest["rejected"]
    rng.shuffle(receipts)
    fragments = [r[:12] for r in manifest["synthetic_receipts"]]
    institutions = max(20, manifest["packages"] // 200)
    first = datetime.combine(date.today(), datetime.min.time()) - timedelta(seconds=SPAN_S)
    windows = [(first + timedelta(days=rng.randrange(SPAN_S // 86400 - 30))).date() for _ in range(500)]
    codes = list(ERROR_CODES)
    ids = manifest["id_numbers"]
    inst = [rng.randrange(institutions) for _ in range(500)]

    def get(path: str) -> Callable[[int], tuple[str, str, dict[str, str] | None]]:
        return lambda n: ("GET", path, None)

    return [
        {"name": "home page (200 newest)", "who": "inspector", "req": get("/")},
        {"name": "package page", "who": "inspector", "real": True,
         "req": lambda n: ("GET", f"/packages/{receipts[n % len(receipts)]}", None)},
        {"name": "package JSON", "who": "inspector", "real": True,
         "req": lambda n: ("GET", f"/packages/{receipts[n % len(receipts)]}/document.json", None)},
        {"name": "search: receipt fragment", "who": "inspector",
         "req": lambda n: ("GET", "/search?" + _q(text=fragments[n % len(fragments)]), None)},
        {"name": "search: institution text", "who": "inspector",
         "req": lambda n: ("GET", "/search?" + _q(text=f"第{inst[n % len(inst)]}职业培训学校"), None)},
        {"name": "search: occupation + level", "who": "inspector",
         "req": lambda n: ("GET", "/search?" + _q(training="".join(OCCUPATIONS[n % len(OCCUPATIONS)])), None)},
        {"name": "search: rejected + error code", "who": "inspector",
         "req": lambda n: ("GET", "/search?" + _q(status="rejected", code=codes[n % len(codes)]), None)},
        {"name": "search: 30-day date range", "who": "inspector",
         "req": lambda n: ("GET", "/search?" + _q(**{"from": windows[n % len(windows)].isoformat(),
                                                      "to": (windows[n % len(windows)] + timedelta(days=29))
                                                      .isoformat()}), None)},
        {"name": "person search by ID number (POST)", "who": "inspector", "real": True,
         "req": lambda n: ("POST", "/search/person", {"id_number": ids[n % len(ids)]})},
        {"name": "dashboard", "who": "inspector", "req": get("/dashboard")},
        {"name": "institution home page (~1,000 packages)", "who": "clerk", "req": get("/")},
    ]


def _q(**params: str) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def logged_in(address: str, name: str) -> tuple[httpx2.Client, str]:
    client = httpx2.Client(base_url=address, follow_redirects=False, timeout=120)
    answer = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": csrf_of(client)})
    assert answer.status_code == 303 and answer.headers["location"] == "/", (answer.status_code, answer.text[:500])
    return client, csrf_of(client, "/search") if name == "inspector" else ""


def listed(text: str) -> int:
    return len(set(re.findall(r'href="/packages/(R[0-9A-Z-]+)"', text)))


def time_pages(address: str, manifest: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    import psutil

    server = next(p for p in psutil.Process().children(recursive=True) if "web" in p.cmdline())
    clients = {name: logged_in(address, name) for name in ("inspector", "clerk")}
    table = pages(manifest, args.seed)
    for page in table:
        page.update(runs=[], sizes=[], rows=None, cpu_ms=[])
    args.load_average = []
    for run in range(args.runs):
        args.load_average.append(os.getloadavg()[0])
        log(f"run {run + 1}/{args.runs} (load average {args.load_average[-1]:.1f})")
        for page in table:
            client, csrf = clients[page["who"]]
            samples = []
            for n in range(args.warmup + args.requests):
                if n == args.warmup:
                    cpu = server.cpu_times()
                method, path, form = page["req"](n + run * 7919)
                started = time.perf_counter()
                if method == "GET":
                    answer = client.get(path)
                else:
                    answer = client.post(path, data={**(form or {}), "csrf_token": csrf})
                body = answer.content
                elapsed = (time.perf_counter() - started) * 1000
                if answer.status_code != 200:
                    raise RuntimeError(f"{page['name']}: {method} {path} answered {answer.status_code}: "
                                       f"{answer.text[:300]}")
                if n >= args.warmup:
                    samples.append(elapsed)
                    page["sizes"].append(len(body))
                if page["rows"] is None and n == args.warmup:
                    page["rows"] = listed(answer.text)
                    page["example"] = f"{method} {path}"
            spent = server.cpu_times()
            page["cpu_ms"].append((spent.user + spent.system - cpu.user - cpu.system) * 1000 / args.requests)
            page["runs"].append(samples)
            p = percentiles(samples)
            log(f"  {page['name']}: p50 {p['p50']:.1f} p95 {p['p95']:.1f} max {p['max']:.1f} ms")
    args.load_average.append(os.getloadavg()[0])
    for client, _csrf in clients.values():
        client.close()
    return table


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": statistics.median(ordered), "p95": q[94], "max": ordered[-1]}


# -- why: the statements each page runs, and a profile of the slow ones -----------------------------


def explain(data: Path, manifest: dict[str, Any], table: list[dict[str, Any]], slow_ms: float,
            seed: int) -> dict[str, Any]:
    """In this process, on the same folder: each page's SQL statements with their plans (one
    request), and a cProfile of the pages whose p95 is over ``slow_ms`` (20 requests)."""
    from starlette.testclient import TestClient

    configure_logging("console", "warning")
    composition = Composition(load_settings(env={k: v for k, v in web_env(data).items()
                                                 if k.startswith("PIPELINE_")}))
    app = composition.web_app()
    engine = composition.catalogue_engine
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    clients = {}
    for name in ("inspector", "clerk"):
        client = TestClient(app, base_url="http://testserver", follow_redirects=False)
        answer = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": csrf_of(client)})
        assert answer.status_code == 303
        clients[name] = (client, csrf_of(client, "/search") if name == "inspector" else "")
    out: dict[str, Any] = {}
    by_name = {p["name"]: p for p in pages(manifest, seed)}
    for page in table:
        client, csrf = clients[page["who"]]
        request = by_name[page["name"]]["req"]

        def once(n: int, request: Callable[[int], Any] = request, client: Any = client, csrf: str = csrf) -> None:
            method, path, form = request(n)
            answer = client.get(path) if method == "GET" else client.post(path, data={**(form or {}),
                                                                                      "csrf_token": csrf})
            assert answer.status_code == 200, (path, answer.status_code)

        once(0)
        seen.clear()
        event.listen(engine, "before_cursor_execute", grab)
        try:
            once(1)
        finally:
            event.remove(engine, "before_cursor_execute", grab)
        statements = []
        for statement, parameters in seen:
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                plan = scale.query_plan(cursor.fetchall())
                started = time.perf_counter()
                cursor.execute(statement, parameters)
                rows = len(cursor.fetchall())
                ms = (time.perf_counter() - started) * 1000
            finally:
                raw.close()
            statements.append({"statement": statement, "parameters": parameters, "plan": plan, "rows": rows,
                               "ms": ms, "full_scans": SqliteTarget.full_scans(plan)})
        entry: dict[str, Any] = {"statements": statements}
        p95 = percentiles([s for run in page["runs"] for s in run])["p95"]
        if p95 > slow_ms:
            profiler = profile(app, client, csrf, request, 20)
            buffer = io.StringIO()
            stats = pstats.Stats(profiler, stream=buffer)
            stats.sort_stats("cumulative").print_stats(25)
            stats.sort_stats("tottime").print_stats(12)
            entry["profile"] = _trim_profile(buffer.getvalue())
        out[page["name"]] = entry
        log(f"  explained {page['name']}: {len(statements)} statements"
            + (" (profiled)" if "profile" in entry else ""))
    for client, _ in clients.values():
        client.close()
    engine.dispose()
    return out


def profile(app: Any, client: Any, csrf: str, request: Callable[[int], Any], count: int) -> cProfile.Profile:
    """cProfile of ``count`` requests served in this thread: an asyncio loop here driving the
    application through httpx2's ASGI transport (the test client serves it in a thread of
    its own, which cProfile would not see), with the test client's log-in cookie."""
    import asyncio

    profiler = cProfile.Profile()

    async def run() -> None:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver",
                                      cookies=dict(client.cookies.items())) as asgi:
            for n in range(count):
                method, path, form = request(n)
                profiler.enable()
                answer = await (asgi.get(path) if method == "GET"
                                else asgi.post(path, data={**(form or {}), "csrf_token": csrf}))
                profiler.disable()
                assert answer.status_code == 200, (path, answer.status_code)

    asyncio.run(run())
    return profiler


def _trim_profile(text: str) -> str:
    keep = []
    for line in text.splitlines():
        line = line.replace(str(REPO) + "/", "").replace(sys.prefix + "/", "")
        line = re.sub(r"/usr/lib/python3[.0-9]*/", "", line)
        if line.strip():
            keep.append(line[:220])
    return "\n".join(keep)


# -- the result file ------------------------------------------------------------------------------


def markdown(manifest: dict[str, Any], table: list[dict[str, Any]], why: dict[str, Any], args: argparse.Namespace,
             command: str, facts: dict[str, str], size: int, free_g: str) -> str:
    rows = manifest["synthetic_rows"]
    out = [f"## Web pages at {manifest['packages']:,} catalogued packages, "
           f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}", "",
           f"Command: `{command}`", "",
           "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()) + f"; `free -g`: {free_g}", "",
           f"Code measured: {args.code}; data folder built at {manifest['built_at']} with {manifest['code']}", "",
           f"Catalogue (SQLite, `DATA/catalogue.sqlite3`, {size / 1024 ** 3:.2f} GiB, no ANALYZE statistics):", "",
           f"- **synthetic** (bench/catalogue_scale.py's generator, loaded in bulk in {manifest['load_s']:.0f} s): "
           f"{manifest['packages']:,} decisions, {manifest['synthetic_rejected']:,} of them rejected (1–3 error "
           f"codes, no facts), {manifest['synthetic_big']:,} of account `{BIG_ACCOUNT}`; rows: "
           + ", ".join(f"{k} {v:,}" for k, v in rows.items())
           + ". No document or ZIP in the store (their package pages are not found).",
           f"- **real** (the kit's example package, decided through `ingest` + `record_decision`, "
           f"{manifest['seconds'] / max(1, manifest['real']):.2f} s each): {manifest['real']} packages, "
           f"{len(manifest['accepted'])} accepted, {len(manifest['rejected'])} rejected "
           f"({', '.join(f'{k} {v}' for k, v in sorted(manifest['codes'].items()))})"
           + (f", {len(manifest['other'])} other" if manifest["other"] else "")
           + "; documents and archived/quarantined ZIPs in the store. The package pages, the JSON and the "
             "person search are timed on these.", "",
           f"Each page: {args.warmup} unrecorded requests, then {args.requests} timed, one at a time over one "
           f"keep-alive connection to `pipeline web` (uvicorn, one process), from sending to the last byte; "
           f"{args.runs} runs of the whole set. p50/p95/max over all {args.runs * args.requests} samples; "
           "the spread is the lowest and highest p95 of the runs. Server CPU: the `pipeline web` process's "
           "user + system time over the timed requests, per request (mean of the runs): what the page costs "
           "the server whatever else the machine does.", "",
           "Load average (1 min) at the start of each run and at the end: "
           + ", ".join(f"{x:.1f}" for x in args.load_average)
           + f" ({os.cpu_count()} CPUs; the bench client and the server use about one between them, anything "
             "above is other work on the machine)", "",
           "| page | p50 | p95 | max | p95 of the runs (min–max) | server CPU | rows listed | answer size | "
           "example |", "|---|---|---|---|---|---|---|---|---|"]
    for page in table:
        every = [s for run in page["runs"] for s in run]
        p = percentiles(every)
        p95s = [percentiles(run)["p95"] for run in page["runs"]]
        flag = " **slow**" if p["p95"] > args.slow_ms else ""
        rows_listed = page["rows"] if page["rows"] else "–"
        out.append(f"| {page['name']}{flag} | {p['p50']:.1f} ms | {p['p95']:.1f} ms | {p['max']:.1f} ms | "
                   f"{min(p95s):.1f}–{max(p95s):.1f} ms | {statistics.mean(page['cpu_ms']):.1f} ms | {rows_listed} | "
                   f"{statistics.median(page['sizes']) / 1024:.0f} KiB | `{page['example'][:90]}` |")
    out.append("")
    out += ["### The statements each page runs", "",
            "One request of each page (in this process, same folder, after the timings): each SELECT on the "
            "catalogue, its time run alone, the rows it returns, and its full scans (EXPLAIN QUERY PLAN's "
            "`SCAN` of a table).", "",
            "| page | statements | their time | the slowest | full scans |", "|---|---|---|---|---|"]
    for page in table:
        st = why.get(page["name"], {}).get("statements", [])
        slowest = max(st, key=lambda s: s["ms"]) if st else None
        scans = sorted({s for x in st for s in x["full_scans"]})
        out.append(f"| {page['name']} | {len(st)} | {sum(s['ms'] for s in st):.1f} ms | "
                   + (f"{slowest['ms']:.1f} ms, {slowest['rows']} rows" if slowest else "–") + " | "
                   + ("; ".join(f"`{s}`" for s in scans) or "none") + " |")
    out += ["", "<details><summary>Statements and plans</summary>", ""]
    for page in table:
        for s in why.get(page["name"], {}).get("statements", []):
            statement = re.sub(r"\s+", " ", s["statement"])
            if len(statement) > 700:
                statement = statement[:700] + " …"
            out += [f"**{page['name']}** ({s['ms']:.1f} ms, {s['rows']} rows): `{statement}`", "",
                    f"parameters: `{str(s['parameters'])[:300]}`", "", "```", s["plan"], "```", ""]
    out += ["</details>", ""]
    profiled = [(name, w["profile"]) for name, w in why.items() if "profile" in w]
    if profiled:
        out += [f"### Profiles of the pages over {args.slow_ms:.0f} ms p95", "",
                "cProfile of 20 requests through the same application in this process (served in the "
                "profiling thread through httpx2's ASGI transport): cumulative, then own time.", ""]
        for name, text in profiled:
            out += [f"<details><summary>{name}</summary>", "", "```", text, "```", "", "</details>", ""]
    if args.note:
        out += [args.note, ""]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=100_000, help="synthetic catalogued packages")
    parser.add_argument("--real", type=int, default=300, help="real packages decided through the library")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--slow-ms", type=float, default=200.0, help="profile the pages whose p95 is over this")
    parser.add_argument("--keep", type=Path, default=None, help="build the data folder here and keep it")
    parser.add_argument("--reuse", type=Path, default=None, help="time the data folder a --keep run built")
    parser.add_argument("--note", default="", help="a paragraph for the results file")
    parser.add_argument("--no-results", action="store_true", help="do not write bench/results/")
    parser.add_argument("--worktree", action="store_true",
                        help="measure the working tree's code (default: HEAD's, exported)")
    args = parser.parse_args()
    args.code = code_version() if args.worktree else measured_head()
    if args.keep and args.reuse:
        parser.error("--keep builds a folder, --reuse reads one: give one of them")
    if args.reuse:
        folder = args.reuse
    elif args.keep:
        folder = args.keep
        if folder.exists() and any(folder.iterdir()):
            parser.error(f"{folder} is not empty (--reuse times it again)")
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="web-pages-"))
    try:
        if args.reuse:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            log(f"reusing {folder}: {manifest['packages']:,} synthetic + {manifest['real']} real packages")
        else:
            manifest = build(folder, args.packages, args.real, args.seed)
        data = folder / "data"
        add_logins(data)
        with web_process({k: v for k, v in web_env(data).items()}, folder / "web.log") as address:
            log(f"pipeline web at {address}")
            table = time_pages(address, manifest, args)
        log("the statements and plans (and profiles of the slow pages)")
        why = explain(data, manifest, table, args.slow_ms, args.seed)
        size = sum(p.stat().st_size for p in data.glob("catalogue.sqlite3*"))
        free_g = " ".join(subprocess.run(["free", "-g"], capture_output=True, text=True, check=False).stdout.split("\n")[1]
                          .split())
        argv = [a for a in sys.argv[1:]]
        command = ".venv/bin/python -m bench.web_pages " + " ".join(shlex.quote(a) for a in argv)
        text = markdown(manifest, table, why, args, command, machine(), size, free_g)
        print(text)
        if not args.no_results:
            RESULTS.mkdir(parents=True, exist_ok=True)
            path = RESULTS / f"web-pages-{date.today().isoformat()}.md"
            with open(path, "a", encoding="utf-8") as f:
                f.write(text + "\n")
            log(f"appended to {path.relative_to(REPO)}")
    finally:
        if not args.keep and not args.reuse:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
