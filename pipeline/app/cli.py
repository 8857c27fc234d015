"""The ``pipeline`` command: entry points that compose the library.

    pipeline run       the whole pipeline in the foreground (embedded Redis if no REDIS_URL)
    pipeline watch     the inbox watcher alone (enqueues into REDIS_URL)
    pipeline worker    one worker process (Dramatiq actors, PIPELINE_WORKER_THREADS threads)
    pipeline check     the checks offline: no Redis, store or mail
    pipeline media     what photos and videos measure as, and their problems (JSON lines)
    pipeline example   write a complete example package (folder, ZIP, README.txt)
    pipeline template  write the empty form workbooks (表单.xlsx) clerks fill in Excel or WPS
    pipeline forms     convert forms: to-xlsx (JSON forms of a folder -> one 表单.xlsx),
                       to-json (a 表单.xlsx -> its forms as JSON files, every problem at its cell)

For operators (pipeline/app/ops_cli.py, docs/operations.md), on the catalogue, store and
Redis the workers use: status, find, receipt, requeue, verify-archive, prune-quarantine.
For inspectors and the catalogue (pipeline/app/catalogue_cli.py, docs/catalogue.md): trace,
integrity report, catalogue status|rebuild|erase.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

# The commands import the rest of what they use when they run: `pipeline check` and
# `pipeline example` start without loading the runtime's libraries (Dramatiq, Redis, MinIO).
from pipeline.app.logs import configure_logging
from pipeline.app.catalogue_cli import add_catalogue_commands
from pipeline.app.web_cli import add_web_user_commands
from pipeline.app.web_server import add_web_command
from pipeline.app.ops_cli import add_ops_commands
from pipeline.app.settings import Settings, load_settings_or_exit, process_environment
from pipeline.app.settings_help import settings_epilog
from pipeline.notify.registry import RegistryError, load_registry

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


def _check_registry(settings: Settings) -> None:
    """Read the institution registry now, so a malformed one stops start-up with its line."""
    try:
        load_registry(settings.institutions_path)
    except RegistryError as exc:
        print(f"pipeline: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from exc


def _open_catalogue(settings: Settings) -> None:
    """Open (and migrate) the catalogue database and make the embedded default's key, once,
    before any child starts: a wrong DATABASE_URL stops start-up with its reason."""
    from pipeline.app.compose import Composition
    from pipeline.catalogue.database import redacted

    composition = Composition(settings)
    try:
        _ = composition.catalogue_engine, composition.catalogue_key
    except Exception as exc:
        print(f"pipeline: cannot open the catalogue database {redacted(settings.catalogue_url)}: "
              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from exc


# -- run / worker / watch -------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.app.supervisor import run_supervisor

    settings = load_settings_or_exit()
    _check_registry(settings)
    _open_catalogue(settings)
    configure_logging(settings.log_format, settings.log_level, process_name="supervisor",
                      log_file=settings.log_file)
    return run_supervisor(settings, process_environment())


def cmd_worker(args: argparse.Namespace) -> int:
    from pipeline.app import worker

    settings = load_settings_or_exit()
    _check_registry(settings)
    return worker.run(settings)


def cmd_watch(args: argparse.Namespace) -> int:
    from pipeline.app import watch
    from pipeline.app.compose import Composition

    settings = load_settings_or_exit()
    configure_logging(settings.log_format, settings.log_level, process_name="watcher",
                      log_file=settings.log_file)
    return watch.run(Composition(settings))


# -- check --------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.check.policy import PolicyError, load_policy

    paths = [Path(p) for p in args.packages]
    missing = [p for p in paths if not (p.is_file() or p.is_dir())]
    if missing:
        for p in missing:
            print(f"pipeline check: no such file or folder: {p}", file=sys.stderr)
        return EXIT_USAGE
    try:
        policy = load_policy(Path(args.policy) if args.policy else None)
    except PolicyError as exc:
        print(f"pipeline check: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging("json", "warning")
    with tempfile.TemporaryDirectory(prefix="pipeline-check-") as scratch:
        # two packages at a time: one is read (its hashes on both cores) while the other's
        # photos are decoded and its videos probed; the documents still come in order
        pool = ThreadPoolExecutor(_CHECKS_AT_ONCE, thread_name_prefix="check")
        try:
            pending = [pool.submit(_check_one, path, Path(scratch) / str(n), policy, args.today)
                       for n, path in enumerate(paths)]
            return _print_documents((future.result() for future in pending), args.json)
        finally:
            pool.shutdown(cancel_futures=True)  # on Ctrl-C the packages not begun are not


def _print_documents(documents: Iterable[dict[str, Any]], as_json: bool) -> int:
    """Print each document as it comes (JSON lines, or the clerk's text); the exit code."""
    from pipeline.check.documents import dumps_line
    from pipeline.check.report import render_text

    worst = EXIT_OK
    for n, document in enumerate(documents):
        if document["status"] != "accepted":
            worst = EXIT_REJECTED
        if as_json:
            print(dumps_line(document), flush=True)
        else:
            if n:
                print()
            print(render_text(document, self_check=True), flush=True)
    return worst


_CHECKS_AT_ONCE = 2  # packages checked at the same time by one `pipeline check`


def _check_one(path: Path, scratch: Path, policy: Any, today: date | None) -> dict[str, Any]:
    """The document of one ZIP, or of one folder as it would be once compressed (the clerk
    is told so: the upload must still be the ZIP)."""
    from pipeline.check.assess import assess
    from pipeline.check.documents import Source, build_document, local_zone, new_receipt_id
    from pipeline.check.folders import zip_folder

    zone = local_zone(load_settings_or_exit().utc_offset_hours)
    received = datetime.now(zone)
    zip_path, name = path, path.name
    if path.is_dir():
        name = f"{path.resolve().name}.zip"
        scratch.mkdir(parents=True)
        zip_path = zip_folder(path.resolve(), scratch / name)
        print(f"pipeline check: 文件夹“{path}”按压缩成“{name}”后的样子检查；上传时请上传压缩包。", file=sys.stderr)
    findings = assess(zip_path, name, policy, scratch / "work", today or received.date())
    return build_document(findings, receipt_id=new_receipt_id(received), source=Source("check", str(path)),
                          received_at=received, decided_at=datetime.now(zone))


# -- media --------------------------------------------------------------------------------
_VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv")


def cmd_media(args: argparse.Namespace) -> int:
    """One JSON line per file: what it measures as (the manifest's fields) and its problems
    under the policy (a photo unless its suffix is a video's)."""
    import json

    from pipeline.check.contract import PHOTO, VIDEO
    from pipeline.check.measure import measure_many
    from pipeline.check.policy import PolicyError, load_policy
    from pipeline.check.rules.media import judge

    missing = [p for p in args.files if not Path(p).is_file()]
    for p in missing:
        print(f"pipeline media: no such file: {p}", file=sys.stderr)
    try:
        rules = load_policy(Path(args.policy) if args.policy else None).media
    except PolicyError as exc:
        print(f"pipeline media: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if missing:
        return EXIT_USAGE
    items = [(VIDEO if Path(f).suffix.lower() in _VIDEO_SUFFIXES else PHOTO, Path(f), f) for f in args.files]
    measured = measure_many(items, photo_max_pixels=rules.photo_max_pixels,
                            video_probe_timeout_seconds=rules.video_probe_timeout_seconds)
    for path, m in measured.items():
        print(json.dumps({"path": path, **m.manifest_fields(),
                          "problems": [p.to_json() for p in judge(m, rules, path)]}, ensure_ascii=False))
    return EXIT_OK


# -- example ------------------------------------------------------------------------------
_FILE_NAME_FORBIDDEN = set('\\/:*?"<>|')


def _parse_training(text: str) -> tuple[str, str, int]:
    """``育婴师:初级:20`` (full-width colons too) -> ("育婴师", "初级", 20)."""
    from pipeline.check.contract import LEVEL_ALIASES, LEVELS

    parts = [p.strip() for p in text.replace("：", ":").split(":")]
    if len(parts) != 3 or not parts[0]:
        raise argparse.ArgumentTypeError(f"not 职业:等级:人数 (e.g. 育婴师:初级:20): {text!r}")
    occupation, level, count = parts
    if level not in LEVELS:
        right = f" (write {LEVEL_ALIASES[level]})" if level in LEVEL_ALIASES else ""
        raise argparse.ArgumentTypeError(f"level must be one of {'、'.join(LEVELS)}: {level!r}{right}")
    if not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"trainees must be a whole number >= 1: {count!r}")
    if _FILE_NAME_FORBIDDEN & set(occupation):
        raise argparse.ArgumentTypeError(f"occupation cannot be part of a folder name: {occupation!r}")
    return occupation, level, int(count)


_MODES = {"offline": ["offline"], "online": ["online"], "both": ["offline", "online"]}


def cmd_example(args: argparse.Namespace) -> int:
    from pipeline.check.documents import local_zone
    from pipeline.kit.example import DEFAULT_TRAININGS, write_example

    usage = _usage("example")

    today = datetime.now(local_zone(load_settings_or_exit().utc_offset_hours)).date()
    report_date: date = args.date or today
    if report_date > today:
        return usage(f"--date {report_date} is after today ({today}): such a package is refused")
    institution = args.institution.strip()
    if not institution or _FILE_NAME_FORBIDDEN & set(institution):
        return usage(f"--institution must be a name usable as a folder name: {args.institution!r}")
    trainings = args.training or list(DEFAULT_TRAININGS)
    pairs = [(o, lv) for o, lv, _ in trainings]
    if len(set(pairs)) != len(pairs):
        return usage("the same --training (occupation and level) is given twice")
    theory = _MODES["online" if args.online else args.theory]
    practice = _MODES[args.practice]
    try:
        folder, zip_path = write_example(Path(args.dir), institution=institution, report_date=report_date,
                                         trainings=trainings, theory_mode=theory, practice_mode=practice,
                                         workbook=args.workbook)
    except FileExistsError as exc:
        return usage(f"{exc}; nothing was written (choose another DIR or move it away)")
    except OSError as exc:
        return usage(f"cannot write into {args.dir}: {exc}")
    files = sum(1 for p in folder.rglob("*") if p.is_file())
    print("示例上报包已生成 / example package written:")
    print(f"  文件夹 folder: {folder}  ({files} 个文件)")
    print(f"  压缩包 ZIP:    {zip_path}  ({zip_path.stat().st_size} 字节)")
    print(f"  说明 guide:    {folder.parent / 'README.txt'}")
    print("下一步 / next step: 检查压缩包 (check the ZIP):")
    print(f"  pipeline check {zip_path}")
    return EXIT_OK


# -- template / forms -----------------------------------------------------------------------
def cmd_template(args: argparse.Namespace) -> int:
    from pipeline.kit.workbook import write_templates

    try:
        paths = write_templates(Path(args.dir))
    except FileExistsError as exc:
        print(f"pipeline template: {exc}; nothing was written (choose another DIR or move it away)", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"pipeline template: cannot write into {args.dir}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print("表单模板已生成 / form templates written:")
    for path in paths:
        print(f"  {path}")
    print(f"说明 / how to use them: {paths[-1]}")
    return EXIT_OK


def cmd_forms_to_json(args: argparse.Namespace) -> int:
    """The forms of a workbook as JSON files (what the checks read from it), the reader's
    problems printed with their sheet and cell; exit 1 when it holds problems."""
    import json

    from pipeline.check.contract import ALL_FORM_TYPES, FILE_NAME_OF_FORM
    from pipeline.check.workbook import read_workbook

    usage = _usage("forms to-json")

    book, folder = Path(args.workbook), Path(args.dir)
    if not book.is_file():
        return usage(f"no such workbook: {book}")
    found = read_workbook(book, book.name, ALL_FORM_TYPES)
    for p in found.problems:
        print(f"{p.message}" + (f"\n  → {p.hint}" if p.hint else ""), file=sys.stderr)
    existing = [FILE_NAME_OF_FORM[k] for k in found.forms if (folder / FILE_NAME_OF_FORM[k]).exists()]
    if existing and not args.force:
        return usage(f"{'、'.join(existing)} already in {folder}; nothing was written (--force replaces them)")
    folder.mkdir(parents=True, exist_ok=True)
    for kind, form in found.forms.items():
        (folder / FILE_NAME_OF_FORM[kind]).write_text(json.dumps(form.value, ensure_ascii=False, indent=2) + "\n",
                                                      encoding="utf-8")
        print(folder / FILE_NAME_OF_FORM[kind])
    return EXIT_OK if not any(p.severity.value == "error" for p in found.problems) else 1


def cmd_forms_to_xlsx(args: argparse.Namespace) -> int:
    from pipeline.kit.workbook import read_json_forms, write_workbook

    usage = _usage("forms to-xlsx")

    folder, out = Path(args.dir), Path(args.out)
    if not folder.is_dir():
        return usage(f"no such folder: {folder}")
    if out.suffix.lower() != ".xlsx":
        return usage(f"the workbook's name must end in .xlsx: {out}")
    if out.exists() and not args.force:
        return usage(f"{out} already exists; nothing was written (--force replaces it)")
    try:
        forms = read_json_forms(folder)
    except ValueError as exc:
        return usage(str(exc))
    if not forms:
        return usage(f"no form in {folder} (the forms are 培训方案.json, 签到表.json, …)")
    try:
        write_workbook(out, forms)
    except ValueError as exc:
        return usage(str(exc))
    except OSError as exc:
        return usage(f"cannot write {out}: {exc}")
    from pipeline.check.contract import SHEET_OF_FORM

    print(f"{out}: {'、'.join(SHEET_OF_FORM[k] for k in forms)}")
    return EXIT_OK


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from exc


def _usage(command: str) -> Callable[[str], int]:
    """How ``pipeline <command>`` refuses: the message on stderr, exit status 2."""
    def usage(message: str) -> int:
        print(f"pipeline {command}: {message}", file=sys.stderr)
        return EXIT_USAGE
    return usage


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline", description="职业技能培训上报材料 intake pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the whole pipeline in the foreground").set_defaults(func=cmd_run)
    sub.add_parser("watch", help="watch the inbox and enqueue ready packages").set_defaults(func=cmd_watch)
    sub.add_parser("worker", help="run one worker process").set_defaults(func=cmd_worker)
    check = sub.add_parser("check", help="check packages offline, exactly as the workers do")
    check.add_argument("packages", nargs="+", metavar="PACKAGE.zip|FOLDER",
                       help="ZIP packages, or folders (checked as if compressed)")
    check.add_argument("--json", action="store_true", help="print the error-list document(s) as JSON lines")
    check.add_argument("--policy", metavar="FILE", help="policy file (default: the shipped policy)")
    check.add_argument("--today", type=_parse_day, metavar="YYYY-MM-DD", help="the day of checking")
    check.set_defaults(func=cmd_check)
    media = sub.add_parser("media", help="measure photos and videos and judge them as the checks do")
    media.add_argument("files", nargs="+", metavar="FILE")
    media.add_argument("--policy", metavar="FILE", help="policy file (default: the shipped policy)")
    media.set_defaults(func=cmd_media)
    example = sub.add_parser("example", help="write a complete, correct example package to start from")
    example.add_argument("dir", metavar="DIR", help="where to write (created if needed)")
    example.add_argument("--date", type=_parse_day, metavar="YYYY-MM-DD", help="the report date (default: today)")
    example.add_argument("--institution", default="新城区星火职业培训学校", help="the institution's name")
    example.add_argument("--training", type=_parse_training, action="append", metavar="职业:等级:人数",
                         help="a training of the plan, e.g. 育婴师:初级:20 (repeat for several)")
    modes = example.add_mutually_exclusive_group()
    modes.add_argument("--online", action="store_true", help="theory training online (same as --theory online)")
    modes.add_argument("--theory", choices=sorted(_MODES), default="offline", help="theory training mode")
    example.add_argument("--practice", choices=sorted(_MODES), default="offline", help="practice training mode")
    example.add_argument("--workbook", action="store_true",
                         help="the forms as one 表单.xlsx per folder (Excel/WPS) instead of JSON files")
    example.set_defaults(func=cmd_example)
    template = sub.add_parser("template", help="write the empty form workbooks (表单.xlsx) of both folder levels")
    template.add_argument("dir", metavar="DIR", nargs="?", default="表单模板",
                          help="where to write (created if needed; default: 表单模板)")
    template.set_defaults(func=cmd_template)
    forms = sub.add_parser("forms", help="convert forms between JSON files and a workbook")
    conversions = forms.add_subparsers(dest="conversion", required=True)
    to_xlsx = conversions.add_parser("to-xlsx", help="the JSON forms of a folder as one workbook (表单.xlsx)")
    to_xlsx.add_argument("dir", metavar="DIR", help="a folder holding JSON forms (培训方案.json, 签到表.json, …)")
    to_xlsx.add_argument("out", metavar="OUT.xlsx", help="the workbook to write")
    to_xlsx.add_argument("--force", action="store_true", help="replace OUT.xlsx if it exists")
    to_xlsx.set_defaults(func=cmd_forms_to_xlsx)
    to_xlsx.epilog = settings_epilog("forms")
    to_xlsx.formatter_class = argparse.RawDescriptionHelpFormatter
    to_json = conversions.add_parser("to-json", help="the forms of a workbook (表单.xlsx) as JSON files")
    to_json.add_argument("workbook", metavar="表单.xlsx", help="the workbook to read")
    to_json.add_argument("dir", metavar="DIR", help="where to write the JSON forms (created if needed)")
    to_json.add_argument("--force", action="store_true", help="replace JSON forms already in DIR")
    to_json.set_defaults(func=cmd_forms_to_json)
    to_json.epilog = settings_epilog("forms")
    to_json.formatter_class = argparse.RawDescriptionHelpFormatter
    add_ops_commands(sub, _parse_day)
    add_catalogue_commands(sub, _parse_day)
    add_web_command(sub)
    add_web_user_commands(sub)
    for name, command in sub.choices.items():  # every command's --help lists the settings it reads
        command.epilog = settings_epilog(name)
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad arguments, as the spec wants
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # the reader went away (`pipeline find x | head`): it has what it wanted. Point
        # stdout at /dev/null so the interpreter's last flush prints no traceback either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
