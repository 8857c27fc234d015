"""The operator commands of ``pipeline`` (docs/operations.md): parse, call
:mod:`pipeline.ops.queries`, print text for people or ``--json`` for scripts.

    pipeline status [--json]
    pipeline find QUERY [--json]
    pipeline receipt RID [--json]
    pipeline requeue RID... | [--since YYYY-MM-DD] [--code CODE]...  [--dry-run [--policy FILE]] [--wait S] [--json]
    pipeline verify-archive [--sample N] [--quarantine] [--json]
    pipeline prune-quarantine --older-than DAYS [--dry-run] [--json]
    pipeline catalogue [status|rebuild|erase]   (pipeline/app/catalogue_cli.py)

Exit status: 0 done; 1 the answer is bad news (nothing found, a fixity mismatch, a
receipt that could not be re-checked); 2 the command could not run (no data folder, no
Redis for requeue, bad arguments).

Privacy: everything printed comes from :mod:`pipeline.ops.queries`, which returns it with
every personal number masked (package names, inbox locations, accounts, the stored ZIP's
path, documents; pipeline/check/privacy.py); receipt ids and SHA-256s are printed whole.
The text and ``--json`` outputs show the same masked values.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from pipeline.app.logs import configure_logging
from pipeline.app.settings import load_settings_or_exit

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2

STATUS_WORD = {"accepted": "accepted 已受理", "rejected": "rejected 未通过", "duplicate": "duplicate 重复提交"}


def _fail(message: str) -> int:
    print(f"pipeline: {message}", file=sys.stderr)
    return EXIT_USAGE


def open_composition(quiet: bool = True, prog: str = "pipeline") -> Any:
    """The composition of a command that reads the store and the catalogue (the operator's,
    the inspector's and ``web-user``); without a data folder it ends here with exit status
    2 (a mistyped PIPELINE_DATA_DIR must not start an empty catalogue). Log lines go to
    stderr; ``quiet``: warnings and errors only."""
    from pipeline.app.compose import Composition

    settings = load_settings_or_exit()
    configure_logging(settings.log_format, "warning" if quiet else settings.log_level)
    if settings.storage != "s3" and not settings.data_dir.is_dir():
        print(f"{prog}: no pipeline data folder at {settings.data_dir} (PIPELINE_DATA_DIR; "
              f"the default is ./var in the folder the command runs in)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    return Composition(settings)


def _open(quiet: bool = True, *, need_redis: bool = False) -> tuple[Any, Any]:
    """(the composition, its Ops); a command that cannot run (no data folder; for
    ``need_redis``, no Redis) ends here with exit status 2 and the reason on stderr. Log
    lines go to stderr; ``quiet``: warnings and errors only (the progress and audit lines
    of the long commands are info).

    Every command but requeue works with the pipeline's Redis away (the pipeline stopped,
    or Redis down): decisions come from the catalogue database and the store; status
    says what only Redis knows (queues, live workers) is unknown."""
    from pipeline.ops.queries import OpsError

    composition = open_composition(quiet)
    try:
        return composition, composition.ops(need_redis=need_redis)
    except OpsError as exc:
        raise SystemExit(_fail(str(exc))) from exc


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def _codes(codes: list[str]) -> str:
    return "[" + ", ".join(codes) + "]"


# -- status -------------------------------------------------------------------------------
def render_status(st: dict[str, Any]) -> str:
    lines = [f"Pipeline status at {st['at']} (storage: {st['storage']})", ""]
    if st["queues"] is None:
        lines.append(f"queues and workers: unknown, Redis cannot be reached ({st['redis']['problem']})")
    else:
        lines.append(f"{'queue':<12}{'queued':>8}{'delayed':>9}{'dead':>6}")
        for name, q in st["queues"].items():
            lines.append(f"{name:<12}{q['queued']:>8}{q['delayed']:>9}{q['dead']:>6}")
    inbox = st["inbox"]
    lines.append("")
    oldest = inbox["oldest"]
    lines.append(f"inbox: {inbox['waiting']} waiting" + (
        f"; oldest {oldest['location']} since {oldest['since']} ({oldest['age_s']:.0f} s)" if oldest else ""))
    for u in inbox.get("uploads") or []:  # folder uploads and loose files, each one upload (issue 15)
        when = ("being packed" if u["kind"] == "packing" else "still being uploaded" if u["taken_in_s"] is None
                else f"taken in ~{u['taken_in_s']:.0f} s if nothing changes")
        lines.append(f"  {u['kind']}  {u['location']}  {u['files']} files  {when}")
    skipped = inbox.get("skipped") or []
    if skipped:  # nothing at all when none: the usual case stays short
        lines.append(f"skipped in the inbox: {len(skipped)}")
        lines += [f"  {e['relative']}  {e['kind']}  {e['note']}" for e in skipped]
    lines.append(f"in progress: {st['in_progress']['count']}")
    for c in st["in_progress"]["packages"]:
        lines.append(f"  {c['receipt_id']}  {c['name']}  from {c['source']}  since {c['received_at']}"
                     f"  worker {c['worker'] or '(none: waiting to be taken up again)'}")
    lines += ["", f"{'decided':<12}{'accepted':>10}{'rejected':>10}{'duplicate':>11}"]
    for label, key in (("last hour", "last_hour"), ("last day", "last_day"), ("all", "all")):
        d = st["decided"][key]
        lines.append(f"{label:<12}{d['accepted']:>10}{d['rejected']:>10}{d['duplicate']:>11}")
    w = st["workers"]
    lines += ["", f"workers alive: {'unknown' if w['alive'] is None else w['alive']}"]
    for p in w["processes"]:
        lines.append(f"  {p['id']}  {p['threads']} threads  last seen {p['last_beat_s']} s ago")
    cat = st["catalogue"]
    rebuilt = cat.get("last_rebuild") or {}
    lines.append(f"catalogue: {cat['decisions']} decisions"
                 + (f" (last rebuilt from the archive {rebuilt['built_at']})" if rebuilt.get("built_at") else ""))
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    _, ops = _open()
    st = ops.status()
    _print_json(st) if args.json else print(render_status(st))
    return EXIT_OK


# -- find ---------------------------------------------------------------------------------
def render_found(found: dict[str, Any]) -> str:
    lines = []
    for e in found["decisions"]:
        lines.append(f"{e['receipt_id']}  {STATUS_WORD.get(e['status'], e['status'])}  {e['decided_at']}  "
                     f"{e.get('institution') or '—'}  {e['name']}")
        if e["error_codes"]:
            lines.append(f"    errors:   {', '.join(e['error_codes'])}")
        if e.get("duplicate_of"):
            lines.append(f"    duplicate of {e['duplicate_of']}")
        if e.get("supersedes"):
            lines.append(f"    re-check of {e['supersedes']}")
        if e.get("superseded_by"):
            lines.append(f"    superseded by {e['superseded_by']} (re-checked)")
        lines.append(f"    sha256:   {e['sha256']}")
        lines.append(f"    from:     {e['source']}" + (f" (account {e['account']})" if e.get("account") else ""))
        lines.append(f"    zip:      {e['zip']}")
        lines.append(f"    document: {e['document']}")
    for c in found["in_progress"]:
        lines.append(f"{c['receipt_id']}  in progress  {c['name']}  from {c['source']}  since {c['received_at']}")
    for w in found["waiting"]:
        lines.append(f"(no receipt yet)  waiting in the inbox  {w['location']}  {w['size']} bytes  since {w['since']}")
    if not lines:
        lines.append(f"nothing found for {found['query']!r} (searched as {found['kind'].replace('_', ' ')})")
    return "\n".join(lines)


def cmd_find(args: argparse.Namespace) -> int:
    _, ops = _open()
    found = ops.find(args.query)
    _print_json(found) if args.json else print(render_found(found))
    return EXIT_OK if (found["decisions"] or found["in_progress"] or found["waiting"]) else EXIT_BAD


# -- receipt ------------------------------------------------------------------------------
def cmd_receipt(args: argparse.Namespace) -> int:
    from pipeline.check.report import render_text

    _, ops = _open()
    found = ops.receipt(args.receipt_id)
    if found is None:
        print(f"pipeline receipt: no decision {args.receipt_id}", file=sys.stderr)
        return EXIT_BAD
    if args.json:
        print(json.dumps(found["document"], ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"压缩包 ZIP:     {found['zip']}")
    print(f"文档 document:  {found['document_path']}")
    if found.get("superseded_by"):
        print(f"已被重新检查取代 superseded by: {found['superseded_by']}")
    print()
    print(render_text(found["document"]))
    return EXIT_OK


# -- verify-archive -----------------------------------------------------------------------
def cmd_verify(args: argparse.Namespace) -> int:
    _, ops = _open(quiet=False)
    if args.sample is not None and args.sample < 1:
        return _fail("--sample must be at least 1")
    areas = ("archive", "quarantine") if args.quarantine else ("archive",)
    result = ops.verify_archive(args.sample, areas)
    if args.json:
        _print_json(result)
    else:
        for p in result["problems"]:
            if p["problem"] == "unreadable_document":
                print(f"UNREADABLE  {p['location']}: {p['detail']}")
            elif p["problem"] == "missing":
                print(f"MISSING     {p['receipt_id']}  {p['zip']}")
            elif p["problem"] == "broken_reference":
                print(f"BROKEN REF  {p['receipt_id']}  {p['zip']}: {p['detail']}")
            else:
                print(f"MISMATCH    {p['receipt_id']}  {p['zip']}\n"
                      f"            receipt: {p['expected_size']} bytes sha256 {p['expected_sha256']}\n"
                      f"            on disk: {p['actual_size']} bytes sha256 {p['actual_sha256']}")
        print(f"checked {result['checked']} of {result['stored']} stored in {' + '.join(result['areas'])}: "
              f"{result['ok']} ok, {len(result['problems'])} problem(s)"
              + (f"; {result['removed_by_retention']} ZIP(s) removed by retention not checked"
                 if result.get("removed_by_retention") else ""))
    return EXIT_BAD if result["problems"] else EXIT_OK


# -- prune-quarantine ---------------------------------------------------------------------
def cmd_prune(args: argparse.Namespace) -> int:
    if args.older_than < 0:
        return _fail("prune-quarantine: --older-than must be 0 or more days")
    _, ops = _open(quiet=args.dry_run)
    result = ops.prune_quarantine(args.older_than, dry_run=args.dry_run)
    if args.json:
        _print_json(result)
    else:
        word = "WOULD REMOVE" if args.dry_run else "REMOVED"
        for r in result["items"]:
            print(f"{word:<13}{r['receipt_id']}  {r['status']:<9}  decided {r['decided_at']}  {r['zip']}  "
                  f"{r['bytes']} bytes freed" + ("" if r["bytes"] == r["size"] else f" (of {r['size']}: "
                                                 "a hard link, the archive keeps the bytes)"))
        for p in result["problems"]:
            print(f"UNREADABLE   {p['location']}: {p['detail']}")
        print(("would remove" if args.dry_run else "removed") + f" {result['removed']} ZIP(s) from the quarantine "
              f"decided before {result['cutoff']}, {result['bytes']} bytes "
              + ("to free" if args.dry_run else "freed") + f"; {result['kept']} newer kept; documents kept, "
              "archive untouched")
    return EXIT_OK


# -- requeue ------------------------------------------------------------------------------
def render_requeue(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        old = f"{r['receipt_id']}"
        if "old_status" in r:
            old += f" {r['old_status']} {_codes(r.get('old_error_codes') or [])}"
        action = r["action"]
        if action in ("not_found", "skipped"):
            lines.append(f"{old}: {action.replace('_', ' ')} ({r['reason']})")
        elif action == "dry_run":
            change = "" if r["changes"] else " (no change)"
            lines.append(f"{old} -> would be {r['new_status']} {_codes(r['new_error_codes'])}{change}")
        elif action == "already_requeued":
            lines.append(f"{old}: re-checked already as {r['new_receipt_id']}")
        elif action == "already_decided":
            lines.append(f"{old}: re-checked already as {r['new_receipt_id']}: "
                         f"{r['new_status']} {_codes(r['new_error_codes'])}")
        elif action == "decided":
            lines.append(f"{old} -> {r['new_receipt_id']} {r['new_status']} {_codes(r['new_error_codes'])}")
        else:  # queued, queued_again
            lines.append(f"{old} -> {r['new_receipt_id']} queued" + (" again" if action == "queued_again" else ""))
    return "\n".join(lines) if lines else "nothing to re-check"


def cmd_requeue(args: argparse.Namespace) -> int:
    from pipeline.check.policy import PolicyError, load_policy

    if args.receipt_ids and (args.since or args.code):
        return _fail("requeue: give receipt ids, or --since/--code, not both")
    if not args.receipt_ids and not (args.since or args.code):
        return _fail("requeue: give receipt ids, or --since YYYY-MM-DD and/or --code CODE")
    if args.policy and not args.dry_run:
        return _fail("requeue: --policy goes with --dry-run (a real re-check uses the workers' policy)")
    composition, ops = _open(quiet=args.dry_run, need_redis=True)
    selection = ops.requeue_selection(args.receipt_ids, args.since, args.code or [])
    if args.dry_run:
        try:
            policy = load_policy(Path(args.policy) if args.policy else composition.settings.policy_path)
        except PolicyError as exc:
            return _fail(str(exc))
        results = ops.requeue_dry_run(selection, policy=policy)
    else:
        results = ops.requeue(selection, send=composition.send_ingest, wait_seconds=args.wait)
    _print_json(results) if args.json else print(render_requeue(results))
    bad = {"not_found", "skipped"} | ({"queued", "queued_again"} if args.wait else set())
    return EXIT_BAD if any(r["action"] in bad for r in results) else EXIT_OK


def add_ops_commands(sub: Any, parse_day: Callable[[str], Any]) -> None:
    status = sub.add_parser("status", help="queues, inbox, in progress, decided, workers alive")
    status.add_argument("--json", action="store_true", help="the same as JSON (every key: docs/operations.md)")
    status.set_defaults(func=cmd_status)

    find = sub.add_parser("find", help="decisions by receipt id, SHA-256 (or a prefix of 12+), "
                                       "package name fragment, institution or account")
    find.add_argument("query")
    find.add_argument("--json", action="store_true")
    find.set_defaults(func=cmd_find)

    receipt = sub.add_parser("receipt", help="one decision's document: readable (Chinese) or --json raw")
    receipt.add_argument("receipt_id", metavar="RECEIPT_ID")
    receipt.add_argument("--json", action="store_true", help="the document itself")
    receipt.set_defaults(func=cmd_receipt)

    requeue = sub.add_parser("requeue", help="re-check rejected packages under the current policy "
                                             "(a new decision naming the old one)")
    requeue.add_argument("receipt_ids", nargs="*", metavar="RECEIPT_ID")
    requeue.add_argument("--since", type=parse_day, metavar="YYYY-MM-DD",
                         help="rejected decisions from this day on (local date)")
    requeue.add_argument("--code", action="append", metavar="CODE",
                         help="only those with an error of this code (repeat for several)")
    requeue.add_argument("--dry-run", action="store_true",
                         help="assess in a scratch folder and show old vs new; store and send nothing")
    requeue.add_argument("--policy", metavar="FILE", help="with --dry-run: try this policy file")
    requeue.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                         help="wait up to this long for the new decisions and show them")
    requeue.add_argument("--json", action="store_true")
    requeue.set_defaults(func=cmd_requeue)

    verify = sub.add_parser("verify-archive", help="re-hash archived ZIPs against their receipts (fixity)")
    verify.add_argument("--sample", type=int, metavar="N", help="check N packages chosen at random")
    verify.add_argument("--quarantine", action="store_true", help="check the quarantine too")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=cmd_verify)

    prune = sub.add_parser("prune-quarantine", help="retention: remove quarantined ZIPs (rejected, duplicate) "
                                                    "decided more than DAYS days ago; documents stay, "
                                                    "the archive is never touched (--dry-run first)")
    prune.add_argument("--older-than", type=float, required=True, metavar="DAYS",
                       help="remove ZIPs of decisions decided more than this many days ago")
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    prune.add_argument("--json", action="store_true")
    prune.set_defaults(func=cmd_prune)
