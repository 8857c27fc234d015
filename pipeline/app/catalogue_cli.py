"""The inspector's and the catalogue's commands (docs/catalogue.md):

    pipeline trace ID_NUMBER | --name NAME  [--teacher] [--json]
    pipeline integrity report [--since YYYY-MM-DD] [--format text|csv|html] [--output FILE]
    pipeline catalogue [status] [--json]
    pipeline catalogue rebuild [--json]
    pipeline catalogue erase RECEIPT_ID --reason TEXT [--json]

They read the catalogue database (``DATABASE_URL``, else the SQLite file under the data
folder) and, for a rebuild and the report's thumbnails, the store; none needs Redis.
Everything printed is masked: a person is a name and a masked number (110101********1234).
A trace is logged (``catalogue.traced``, with the masked number): who looked up whom is
itself a record a data-protection officer may ask for.

Exit status: 0 done; 1 nothing found; 2 the command could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, time as day_time
from pathlib import Path
from typing import Any, Callable

import structlog

from pipeline.app.ops_cli import open_composition

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2


def _fail(message: str) -> int:
    print(f"pipeline: {message}", file=sys.stderr)
    return EXIT_USAGE


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


# -- trace ----------------------------------------------------------------------------------
def _people(composition: Any, args: argparse.Namespace) -> list[dict[str, str]] | int:
    """The persons asked for: by ID number (hashed with the catalogue's key) or by name."""
    from pipeline.catalogue.inspection import person_by_number, persons_named
    from pipeline.check.privacy import mask_id

    engine = composition.catalogue_engine
    if args.name:
        return persons_named(engine, args.name)
    number = (args.id_number or "").strip().upper()
    found, invalid = person_by_number(engine, composition.person_key, number, datetime.now(composition.zone).date())
    if invalid:
        return _fail(f"trace: {mask_id(number)} is not a valid ID number ({invalid})")
    return [found] if found else []


def render_trace(result: dict[str, Any]) -> str:
    lines = []
    for p in result["persons"]:
        lines.append(f"{p['name']}（{p['masked']}）")
        role = "taught" if result["teacher"] else "attended"
        if not p["trainings"]:
            lines.append(f"  no training {role}")
        for t in p["trainings"]:
            period = f"{t['start_date']} 至 {t['end_date']}"
            if result["teacher"]:
                days = "、".join(sorted({s["date"] for s in t["sessions"]}))
            else:
                days = "、".join(t["dates"]) or "线上培训"
            lines.append(f"  {t['institution']}  {t['occupation']}{t['level']}  {period}  "
                         f"{t['hours']:g} 学时  回执 {t['receipt_id']}")
            lines.append(f"      {'授课' if result['teacher'] else '签到'}日期：{days}")
    if not lines:
        lines.append("nobody found in the catalogue")
    return "\n".join(lines)


def cmd_trace(args: argparse.Namespace) -> int:
    from pipeline.catalogue.inspection import trainings_attended, trainings_taught

    if bool(args.id_number) == bool(args.name):
        return _fail("trace: give an ID number, or --name NAME (not both)")
    composition = open_composition()
    people = _people(composition, args)
    if isinstance(people, int):
        return people
    listing = trainings_taught if args.teacher else trainings_attended
    result = {"teacher": args.teacher,
              "persons": [{**p, "trainings": listing(composition.catalogue_engine, p["person_key"])}
                          for p in people]}
    for p in result["persons"]:
        del p["person_key"]  # the keyed hash is the catalogue's business, not the reader's
    structlog.get_logger().info("catalogue.traced", by_name=bool(args.name), teacher=args.teacher,
                                persons=[p["masked"] for p in result["persons"]],
                                trainings=sum(len(p["trainings"]) for p in result["persons"]))
    _print_json(result) if args.json else print(render_trace(result))
    return EXIT_OK if any(p["trainings"] for p in result["persons"]) else EXIT_BAD


# -- integrity report -------------------------------------------------------------------------
def cmd_integrity(args: argparse.Namespace) -> int:
    from pipeline.catalogue.inspection import integrity_pairs
    from pipeline.ops.catalogue_tasks import Thumbnails, report_csv, report_html

    composition = open_composition()
    rules = composition.policy.integrity
    since_ts = (datetime.combine(args.since, day_time(0), composition.zone).timestamp()
                if args.since else None)
    pairs = integrity_pairs(composition.catalogue_engine, distance=rules.photo_hash_distance,
                            max_hours=rules.teacher_daily_max_hours, since_ts=since_ts)
    if args.format == "csv":
        text = report_csv(pairs)
    elif args.format == "html":
        ops = composition.ops()
        thumbnails = Thumbnails(inventory=ops.inventory, catalogue=composition.catalogue,
                                package_file=ops.package_file_of)
        title = "培训材料诚信核查报告" + (f"（{args.since.isoformat()} 起）" if args.since else "")
        text = report_html(pairs, title=title, thumbnails=thumbnails)
    else:
        text = "\n".join(f"{p.signal}  {p.detail}  {p.receipt_id} {p.institution} {p.training} {p.item}"
                         f"  <->  {p.other_receipt_id} {p.other_institution} {p.other_training} {p.other_item}"
                         + (f"  {p.when}" if p.when else "") for p in pairs) or "no pairs"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"{len(pairs)} pairs written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


# -- catalogue --------------------------------------------------------------------------------
class _Bar:
    """A progress bar on a terminal (stderr); nothing otherwise (the log lines say it)."""

    def __init__(self) -> None:
        self.done = 0
        self.live = sys.stderr.isatty()

    def step(self) -> None:
        self.done += 1
        if self.live and self.done % 10 == 0:
            print(f"\rcatalogue rebuild: {self.done} documents read", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.live:
            print(f"\rcatalogue rebuild: {self.done} documents read", file=sys.stderr)


def cmd_catalogue(args: argparse.Namespace) -> int:
    from pipeline.catalogue.database import redacted
    from pipeline.ops.catalogue_tasks import FactsFromArchive, erase_withdrawn

    action = args.action or "status"
    composition = open_composition(quiet=action == "status")
    catalogue = composition.catalogue
    if action == "status":
        result: dict[str, Any] = {"database": redacted(composition.settings.catalogue_url),
                                  "decisions": catalogue.size(), "by_status": catalogue.counts(),
                                  "last_rebuild": catalogue.built()}
        if args.json:
            _print_json(result)
        else:
            rebuilt = result["last_rebuild"]
            print(f"catalogue {result['database']}: {result['decisions']} decisions {result['by_status']}"
                  + (f"; last rebuilt {rebuilt['built_at']}" if rebuilt else ""))
        return EXIT_OK
    if action == "erase":
        if not args.receipt_id or not args.reason:
            return _fail("catalogue erase: give the RECEIPT_ID and --reason")
        ops = composition.ops()
        erased = erase_withdrawn(ops.store, catalogue, args.receipt_id.strip().upper(), args.reason,
                                 datetime.now(composition.zone))
        if erased is None:
            print(f"pipeline catalogue erase: no decision {args.receipt_id} in the catalogue", file=sys.stderr)
            return EXIT_BAD
        _print_json(erased) if args.json else print(
            f"{erased['receipt_id']}: {erased['trainings_removed']} training(s) and their people, dates and "
            "media erased from the catalogue; the archive is untouched")
        return EXIT_OK
    ops = composition.ops()
    facts = FactsFromArchive(store=ops.store, inventory=ops.inventory, policy=composition.policy,
                             person_key=composition.person_key, zone=composition.zone,
                             package_file=ops.package_file_of)
    bar = _Bar()

    def counted(location: str, document: dict[str, Any]) -> Any:
        bar.step()
        return facts(location, document)

    stats = ops.rebuild_decisions(facts_of=counted)
    bar.close()
    stats["zips_missing"] = facts.missing
    if args.json:
        _print_json(stats)
    else:
        print(f"catalogue rebuilt from the archive: {stats['documents']} decisions, facts of "
              f"{stats['facts_written']} accepted packages read from their ZIPs, {stats['dropped']} stale "
              f"dropped, {stats['seconds']} s" + (f"; ZIPs missing: {', '.join(facts.missing)}"
                                                  if facts.missing else ""))
    return EXIT_OK


def add_catalogue_commands(sub: Any, parse_day: Callable[[str], Any]) -> None:
    trace = sub.add_parser("trace", help="every training of a person (by ID number or --name), masked")
    trace.add_argument("id_number", nargs="?", metavar="ID_NUMBER",
                       help="the person's 身份证号 (18 characters; looked up by its keyed hash, shown masked)")
    trace.add_argument("--name", metavar="NAME", help="find by name instead (all persons of that name)")
    trace.add_argument("--teacher", action="store_true", help="the trainings the person taught")
    trace.add_argument("--json", action="store_true")
    trace.set_defaults(func=cmd_trace)

    integrity = sub.add_parser("integrity", help="integrity across packages: `integrity report`")
    integrity.add_argument("what", choices=["report"], help="report: every pair the signals link, both ways "
                                                           "(distance and daily maximum: PIPELINE_POLICY's [integrity])")
    integrity.add_argument("--since", type=parse_day, metavar="YYYY-MM-DD",
                           help="only pairs with a package decided from this day on (local date)")
    integrity.add_argument("--format", choices=["text", "csv", "html"], default="text")
    integrity.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    integrity.set_defaults(func=cmd_integrity)

    catalogue = sub.add_parser("catalogue", help="the catalogue database: status, rebuild (from the archive), "
                                                 "erase RECEIPT_ID --reason (a withdrawn package's rows)")
    catalogue.add_argument("action", nargs="?", choices=["status", "rebuild", "erase"])
    catalogue.add_argument("receipt_id", nargs="?", metavar="RECEIPT_ID")
    catalogue.add_argument("--reason", metavar="TEXT", help="erase: why (kept in the journal)")
    catalogue.add_argument("--json", action="store_true")
    catalogue.set_defaults(func=cmd_catalogue)
