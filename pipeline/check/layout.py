"""The derived structure of a readable package (spec section 2): where level 1 is, what
the plan says, which training folders and media files lie where.

A :class:`Layout` is computed once per package (``PackageView.layout``) from the
extracted file list and the ZIP's name, and shared by every check that runs after the
package reader: the hierarchy and name checks now, the media byte checks and the form
checks later. Building it never raises for a bad package and reports nothing, with one
exception it cannot avoid finding: ``培训方案.json`` absent or unreadable
(``plan_problem``), which the hierarchy check reports once and nobody else.

Decisions (the spec leaves them open):

- **Level 1.** One top folder and nothing beside it is level 1. The archive is *flat*
  (the ZIP's name without ``.zip`` stands in for level 1, not an error) when its top
  holds level-1 content directly: a root form (``培训方案.json`` …) or a folder holding
  ``理论/`` or ``实操/``, and no top folder that itself looks like level 1 (holds
  ``培训方案.json`` or a training folder). A single top folder holding ``理论/`` or
  ``实操/`` is a training folder, so such an archive is flat too. Anything else is
  ``HIER_ROOT`` (``root_ok`` False) and the checks go on below the best guess: the top
  folder holding the most of a package's expected content (root forms and pledge scans,
  files in training folders), then one holding ``培训方案.json``, then the first by
  name; with no top folder, the archive top (only files there). The ``HIER_ROOT``
  message names the folder that was checked. Entries outside
  that root are named in the ``HIER_ROOT`` message and not looked at further.
  A level-1 folder wrapped in one more folder (``外层/星火…20261120/培训方案.json``,
  nothing else in ``外层/``) is ``HIER_ROOT`` too, and the inner folder is used.
- **Level-1 name.** The date is the *end* of the name, in ASCII digits: ``YYYYMMDD``
  (the last 8 digits), ``YYYY-MM-DD`` (two-digit month and day) or ``YYYY年M月D日`` (one or
  two digits). Everything before it is the institution, compared exactly (no trimming:
  ``星火_20261120`` names the institution ``星火_``).
- **File names.** Folder names and the stems of file names are compared exactly
  (Chinese, NFC as the reader normalised them). Extensions are compared ignoring case,
  and ``.jpeg`` is the same as ``.jpg`` wherever ``.jpg`` is allowed (media, pledge
  scan, screenshots): Windows hides and capitalises extensions. :meth:`Layout.file_at`
  finds files this way.
- **Training folders.** A level-2 folder's *expected* name is its own name when a plan
  training has exactly that folder; otherwise, when the name parses as occupation +
  level, that spelling with the level alias replaced (``育婴师五级`` → ``育婴师初级``) and
  whitespace removed; otherwise (``新建文件夹``) None: the folder is not a training and
  its content is not looked at. Media names inside are judged against the expected name,
  so an alias folder costs one error, not one per file. A misspelt folder
  (``育婴员初级`` for the plan's ``育婴师初级``) is taken for the training it clearly stands
  for — its photos are named after that training, or it is the only unmatched folder
  and that the only training without one — and judged against that name likewise.
- **Plan.** Read leniently (UTF-8, BOM tolerated, at most 16 MiB); only a JSON object
  counts. Rows of ``trainings`` without string occupation and level are skipped; the
  form checks validate the plan strictly and report those.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

from pipeline.check.catalogue import Problem, format_size, problem
from pipeline.check.contract import (LEVEL_ALIASES, LEVELS, MAX_FORM_BYTES, MAX_FORM_DEPTH, PHOTO, PHOTO_EXTS,
                                     PLAN_FORM, PLEDGE_SCANS, ROOT_FORM_FILES, ROOT_FORM_TYPES, SECTIONS, VIDEO,
                                     VIDEO_EXTS, WORKBOOK_FILE)
from pipeline.check.package_reader import ExtractedFile, PackageContents
from pipeline.check.policy import WorkbookLimits
from pipeline.check.workbook import WorkbookRead, read_workbook

__all__ = [
    "Layout", "MediaFile", "Training", "TrainingFolder", "build_layout", "canonical_training",
    "name_key", "parse_root_date", "read_json", "split_ext", "split_level",
]

_LEVEL_SUFFIXES = sorted([*LEVELS, *LEVEL_ALIASES], key=len, reverse=True)
_SPACES = re.compile(r"\s+")
_DATE_PATTERNS = (
    re.compile(r"^(?P<head>.*)(?P<date>(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2}))$"),
    re.compile(r"^(?P<head>.*?)(?P<date>(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2}))$"),
    re.compile(r"^(?P<head>.*?)(?P<date>(?P<y>[0-9]{4})年(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})日)$"),
)


# ---------------------------------------------------------------------------------------
# names


def split_ext(name: str) -> tuple[str, str]:
    """(stem, extension lower-cased with its dot); ("名称", "") without an extension."""
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    return name[:dot], name[dot:].lower()


def name_key(name: str) -> str:
    """A file name as compared: stem exact, extension lower-case, ``.jpeg`` as ``.jpg``."""
    stem, ext = split_ext(name)
    return stem + (".jpg" if ext == ".jpeg" else ext)


def split_level(name: str) -> tuple[str, str, str] | None:
    """``育婴师五级`` -> (``育婴师``, ``初级``, ``五级``): occupation, the level as it must
    be written, the level as written. None when the name does not end in a level."""
    for suffix in _LEVEL_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], LEVEL_ALIASES.get(suffix, suffix), suffix
    return None


def canonical_training(name: str) -> str | None:
    """The folder name as it must be written (whitespace removed, level alias replaced),
    or None when ``name`` is not occupation + level."""
    parts = split_level(_SPACES.sub("", name))
    return None if parts is None else parts[0] + parts[1]


def parse_root_date(name: str) -> tuple[str, str, date | None] | None:
    """(institution part, the date as written, the date or None when impossible) for a
    level-1 name ending in a date of one of the three spellings; None when none ends it."""
    for pattern in _DATE_PATTERNS:
        m = pattern.match(name)
        if m:
            try:
                day = date(int(m["y"]), int(m["m"]), int(m["d"]))
            except ValueError:
                day = None
            return m["head"], m["date"], day
    return None


def read_json(file: ExtractedFile) -> tuple[Any, str | None]:
    """(value, None) for a readable JSON form, or (None, Chinese detail for FORM_JSON).

    UTF-8 with or without BOM. Shared with the form checks so that every form is read
    the same way."""
    value, detail, _ = _read_json(file)
    return value, detail


def _read_json(file: ExtractedFile) -> tuple[Any, str | None, dict[str, Any]]:
    """:func:`read_json`, plus the fault as raw FORM_JSON parameters (``fault`` and the
    numbers the detail quotes; empty when the form is readable)."""
    if file.size > MAX_FORM_BYTES:
        return None, f"文件过大（{format_size(file.size)}），不是有效的表单", {
            "fault": "too_large", "size_bytes": file.size, "max_bytes": MAX_FORM_BYTES}
    data = file.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "文件不是 UTF-8 编码（可能是 GBK/ANSI 编码）", {"fault": "not_utf8"}
    repeated: list[str] = []
    try:
        value = json.loads(text, object_pairs_hook=lambda pairs: _object(pairs, repeated))
    except json.JSONDecodeError as exc:
        return None, f"JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）", {
            "fault": "syntax", "line": exc.lineno, "column": exc.colno}
    except RecursionError:
        return None, "JSON 嵌套层数过多", {"fault": "too_deep"}
    except ValueError:  # e.g. an integer literal beyond Python's int_max_str_digits
        return None, "JSON 中有无法读取的数值（数字位数过多）", {"fault": "number"}
    if _nested_deeper_than(value, MAX_FORM_DEPTH):
        # json.loads copes with ~1000 levels, but schema validation recurses several
        # frames per level and would raise RecursionError (found by make fuzz)
        return None, f"JSON 嵌套层数过多（超过 {MAX_FORM_DEPTH} 层）", {
            "fault": "too_deep", "max_depth": MAX_FORM_DEPTH}
    if repeated:
        # a clerk editing by hand copies a line and forgets to delete the old one: the JSON
        # reader would silently keep the last value
        key, line = _first_repeated_key(text)
        return None, (f"字段“{key}”在同一个 {{…}} 中出现了两次（第 {line} 行是重复的一处），"
                      "请只保留正确的一个"), {"fault": "duplicate_key", "key": key, "line": line}
    return value, None, {}


def _object(pairs: list[tuple[str, Any]], repeated: list[str]) -> dict[str, Any]:
    """A JSON object; a key given twice is noted in ``repeated``."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            repeated.append(key)
        out[key] = value
    return out


def _first_repeated_key(text: str) -> tuple[str, int]:
    """(the first key given twice in one object, the line of its second place) of a
    JSON text that parses: a scan of strings, braces, brackets and colons."""
    stack: list[set[str] | None] = []  # per open container: the keys seen (None: a list)
    pending: tuple[str, int] | None = None  # the last string and its line
    line, i = 1, 0
    while i < len(text):
        c = text[i]
        if c == "\n":
            line += 1
        elif c == '"':
            end = i + 1
            while text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            pending = (json.loads(text[i:end + 1]), line)
            i = end
        elif c == ":" and pending is not None and stack and stack[-1] is not None:
            key, at = pending
            if key in stack[-1]:
                return key, at
            stack[-1].add(key)
        elif c in "{[":
            stack.append(set() if c == "{" else None)
        elif c in "}]":
            stack.pop()
        if c not in ' \t\r\n"':
            pending = pending if c == ":" or text[i] == '"' else None
        i += 1
    return "", 0


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest more than ``limit`` levels (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


# ---------------------------------------------------------------------------------------
# the layout


@dataclass(frozen=True)
class Training:
    """One row of the plan's ``trainings``."""

    occupation: str
    level: str
    trainees: int | None

    @property
    def folder(self) -> str:
        """The level-2 folder name of this training, e.g. ``育婴师初级``."""
        return self.occupation + self.level


@dataclass(frozen=True)
class TrainingFolder:
    """A level-2 folder as found in the package."""

    name: str  # as named in the package
    training: Training | None  # the plan training whose folder is exactly ``name``
    expected: str | None  # the name it should carry (see module doc); None: not a training
    sections: tuple[str, ...]  # the section folders (理论, 实操) present in it

    @property
    def is_training(self) -> bool:
        return self.expected is not None


@dataclass(frozen=True)
class MediaFile:
    """A photo or video candidate: a .jpg/.jpeg/.mp4 (any case) directly in a section."""

    file: ExtractedFile
    training_folder: str  # the level-2 folder it lies in (as named in the package)
    section: str  # "理论" | "实操": the folder it lies in
    kind: str  # PHOTO (.jpg/.jpeg) | VIDEO (.mp4)
    #: its sequence number when the name is ``<expected folder name><section><n>.<ext>``
    #: with n in ASCII digits without leading zeros (any n, even 0: the range is
    #: NAME_SEQUENCE's business), else None
    number: int | None

    @property
    def name(self) -> str:
        return self.file.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Layout:
    """The derived structure of one readable package. Paths called *relative* are below
    the level-1 folder ("育婴师初级/理论/x.jpg"); full paths are those inside the ZIP."""

    root_prefix: str  # "星火职业培训学校20261120/", or "" when the archive is flat
    root_name: str  # the level-1 name: the top folder's, or the ZIP's name without .zip
    root_ok: bool  # False when HIER_ROOT applies
    #: the archive's top entries ("x/" for folders), sorted: what HIER_ROOT shows
    top_entries: tuple[str, ...]
    #: the folder wrapping a level-1 folder ("外层/"), when that is why root_ok is False
    wrapper: str | None
    name_institution: str | None  # root_name before its date; None if no date ends it
    name_date: str | None  # the date as written in root_name, even an impossible one
    report_date: date | None  # that date; None when absent or impossible
    plan: dict[str, Any] | None  # 培训方案.json when it is a readable JSON object
    plan_problem: Problem | None  # FORM_MISSING / FORM_JSON for 培训方案.json
    institution: str | None  # the plan's institution.name, else name_institution
    plan_institution: str | None  # the plan's institution.name (a non-empty string) or None
    trainings: tuple[Training, ...]  # the plan's well-formed training rows, in plan order
    theory_mode: tuple[str, ...]  # the plan's theory_mode strings ("online", "offline")
    practice_mode: tuple[str, ...]  # the plan's practice_mode strings
    training_folders: tuple[str, ...]  # level-2 folder names present, sorted
    folders: Mapping[str, TrainingFolder]  # the same, with what is known of each
    media: tuple[MediaFile, ...]  # every photo/video candidate, sorted by path
    files: tuple[ExtractedFile, ...]  # every file below the root, sorted by path
    _by_path: Mapping[str, ExtractedFile] = field(repr=False, compare=False)
    _by_key: Mapping[str, ExtractedFile] = field(repr=False, compare=False)
    _dirs: Mapping[str, tuple[str, ...]] = field(repr=False, compare=False)
    _files_in: Mapping[str, tuple[ExtractedFile, ...]] = field(repr=False, compare=False)
    #: the level-1 表单.xlsx as read (spec section 9), None without one
    root_workbook: WorkbookRead | None = field(default=None, repr=False, compare=False)
    #: the policy's [workbook] limits (None: the shipped policy's), for every 表单.xlsx
    workbook_limits: WorkbookLimits | None = field(default=None, repr=False, compare=False)

    @property
    def flat(self) -> bool:
        return self.root_prefix == ""

    @property
    def root_path(self) -> str:
        """Full path of the level-1 folder ("" when flat): the path of root problems."""
        return self.root_prefix.rstrip("/")

    @property
    def plan_has_trainings(self) -> bool:
        """Whether level-2 folders can be judged against the plan."""
        return bool(self.trainings)

    def full(self, relative: str) -> str:
        """Full path inside the package of a path below the root."""
        return self.root_prefix + relative

    def relative(self, file: ExtractedFile) -> str:
        """Path of ``file`` below the root; ValueError for a file outside it."""
        if not file.path.startswith(self.root_prefix):
            raise ValueError(f"{file.path!r} is not below the root {self.root_prefix!r}")
        return file.path[len(self.root_prefix):]

    def file_at(self, relative: str) -> ExtractedFile | None:
        """The file at ``relative`` below the root: folders and stem exact, the extension
        in any case (``.jpeg`` matching ``.jpg``); an exact match wins."""
        exact = self._by_path.get(relative)
        if exact is not None:
            return exact
        folder, _, name = relative.rpartition("/")
        return self._by_key.get(f"{folder}/{name_key(name)}" if folder else name_key(name))

    def subfolders(self, relative_dir: str = "") -> tuple[str, ...]:
        """Names of the folders directly in ``relative_dir`` ("" = the root), sorted."""
        return self._dirs.get(relative_dir, ())

    def files_in(self, relative_dir: str = "") -> tuple[ExtractedFile, ...]:
        """The files directly in ``relative_dir`` ("" = the root), sorted by path."""
        return self._files_in.get(relative_dir, ())

    def training(self, folder: str) -> Training | None:
        """The plan training whose folder is exactly ``folder``."""
        info = self.folders.get(folder)
        return info.training if info else None


def _tree(paths: list[tuple[str, ExtractedFile]]) -> tuple[dict[str, set[str]], dict[str, list[ExtractedFile]]]:
    dirs: dict[str, set[str]] = {}
    files: dict[str, list[ExtractedFile]] = {}
    for rel, f in paths:
        parts = rel.split("/")
        for i in range(len(parts) - 1):
            dirs.setdefault("/".join(parts[:i]), set()).add(parts[i])
        files.setdefault("/".join(parts[:-1]), []).append(f)
    return dirs, files


def _zip_stem(zip_name: str) -> str:
    name = zip_name.replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-4] if name.lower().endswith(".zip") else name


def _find_root(contents: PackageContents, zip_name: str) -> tuple[str, str, bool, tuple[str, ...], str | None]:
    """(root_prefix, root_name, root_ok, top_entries, wrapper)."""
    all_paths = [(f.path, f) for f in contents.files]
    dirs, files = _tree(all_paths)
    top_dirs = sorted(dirs.get("", ()))
    top_files = [f.path for f in files.get("", [])]
    top_entries = tuple(sorted([d + "/" for d in top_dirs] + top_files))
    stem = _zip_stem(zip_name)

    def has_plan(d: str) -> bool:
        return any(name_key(f.path.rsplit("/", 1)[-1]) == PLAN_FORM for f in files.get(d, []))

    def holds_sections(d: str) -> bool:
        return any(s in dirs.get(d, ()) for s in SECTIONS)

    def looks_level1(d: str) -> bool:
        return has_plan(d) or any(holds_sections(f"{d}/{sub}") for sub in dirs.get(d, ()))

    if not top_files and len(top_dirs) == 1:
        only = top_dirs[0]
        inner = sorted(dirs.get(only, ()))
        if not files.get(only) and len(inner) == 1 and looks_level1(f"{only}/{inner[0]}"):
            return f"{only}/{inner[0]}/", inner[0], False, top_entries, only + "/"
        if not holds_sections(only):
            return only + "/", only, True, top_entries, None
    root_keys = {name_key(n) for n in (*ROOT_FORM_FILES, *PLEDGE_SCANS, WORKBOOK_FILE)}
    level1_content = any(name_key(p) in root_keys for p in top_files) or any(
        holds_sections(d) for d in top_dirs)
    level1_dirs = [d for d in top_dirs if looks_level1(d)]
    if level1_content and not level1_dirs:
        return "", stem, True, top_entries, None
    if top_dirs:
        best = min(top_dirs, key=lambda d: (-_expected_content(d, dirs, files, root_keys), not has_plan(d), d))
        return best + "/", best, False, top_entries, None
    return "", stem, False, top_entries, None


def _expected_content(folder: str, dirs: dict[str, set[str]], files: dict[str, list[ExtractedFile]],
                      root_keys: set[str]) -> int:
    """How much of a package's expected content lies in ``folder``, taken as level 1: its
    root forms and pledge scans, and every file in its training folders (those holding
    理论/ or 实操/). Of several top folders, the one holding most is checked."""
    count = sum(1 for f in files.get(folder, []) if name_key(f.path.rsplit("/", 1)[-1]) in root_keys)
    for sub in dirs.get(folder, ()):
        training = f"{folder}/{sub}"
        if any(s in dirs.get(training, ()) for s in SECTIONS):
            count += sum(len(v) for k, v in files.items() if k == training or k.startswith(training + "/"))
    return count


def _read_plan(file: ExtractedFile | None, root_path: str, root_label: str) -> tuple[dict[str, Any] | None, Problem | None]:
    path = (root_path + "/" if root_path else "") + PLAN_FORM
    if file is None:
        return None, problem("FORM_MISSING", path, form=PLAN_FORM, folder=root_label,
                             reason="（必需，机构名称和培训项目以它为准）")
    value, detail, facts = _read_json(file)
    if detail is not None:
        return None, problem("FORM_JSON", file.path, form=PLAN_FORM, detail=detail, **facts)
    return (value if isinstance(value, dict) else None), None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _trainings(plan: dict[str, Any] | None) -> tuple[Training, ...]:
    rows = plan.get("trainings") if plan else None
    out: list[Training] = []
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, dict):
            continue
        occupation, level, trainees = row.get("occupation"), row.get("level"), row.get("trainees")
        if isinstance(occupation, str) and isinstance(level, str) and occupation and level:
            count = trainees if isinstance(trainees, int) and not isinstance(trainees, bool) else None
            out.append(Training(occupation, level, count))
    return tuple(out)


def _media_number(name: str, expected: str | None, section: str) -> int | None:
    if expected is None:
        return None
    stem, _ = split_ext(name)
    head = expected + section
    digits = stem[len(head):]
    if stem.startswith(head) and re.fullmatch(r"0|[1-9][0-9]*", digits):
        return int(digits)
    return None


def _misnamed_trainings(names: list[str], expected_of: dict[str, str | None], planned: list[str],
                        dirs: dict[str, set[str]], files_in: dict[str, list[ExtractedFile]]) -> dict[str, str]:
    """The plan training each misspelt training folder stands for, when that is clear:
    its photos and videos are named after a training without a folder
    (``育婴员初级/理论/育婴师初级理论1.jpg``), or it is the only folder matching no training
    and exactly one training has none (and it looks like a training folder: occupation +
    level, or 理论/实操 inside). Its content is then judged against that name, so a typo in
    one folder name is one error, not one per file (see the module doc)."""
    missing = [t for t in planned if t not in expected_of.values()]
    unmatched = [n for n in names if n not in planned and expected_of[n] not in planned]
    if not missing or not unmatched:
        return {}
    paired: dict[str, str] = {}
    for name in unmatched:
        stems = [f.path.rsplit("/", 1)[-1] for section in SECTIONS for f in files_in.get(f"{name}/{section}", ())]
        named_after = {t for t in missing for stem in stems if any(stem.startswith(t + s) for s in SECTIONS)}
        if len(named_after) == 1:
            paired[name] = named_after.pop()
    left = [t for t in missing if t not in paired.values()]
    rest = [n for n in unmatched if n not in paired]
    if len(left) == 1 and len(rest) == 1:
        name = rest[0]
        if expected_of[name] is not None or any(s in dirs.get(name, ()) for s in SECTIONS):
            paired[name] = left[0]
    return paired


def build_layout(contents: PackageContents, zip_name: str, workbook_limits: WorkbookLimits | None = None) -> Layout:
    """The layout of a readable package; ``zip_name`` is the ZIP's file name."""
    prefix, root_name, root_ok, top_entries, wrapper = _find_root(contents, zip_name)
    below = [(f.path[len(prefix):], f) for f in contents.files if f.path.startswith(prefix)]
    dirs, files_in = _tree(below)
    by_path = {rel: f for rel, f in below}
    by_key: dict[str, ExtractedFile] = {}
    for rel, f in below:
        folder, _, name = rel.rpartition("/")
        by_key.setdefault(f"{folder}/{name_key(name)}" if folder else name_key(name), f)

    parsed = parse_root_date(root_name)
    name_institution, name_date, report_date = parsed if parsed else (None, None, None)

    plan_file = by_path.get(PLAN_FORM) or by_key.get(name_key(PLAN_FORM))
    # spec section 9: the level-1 forms may be the sheets of 表单.xlsx (read once, here:
    # the plan decides the trainings; the forms loader takes the other sheets from it)
    book_file = by_path.get(WORKBOOK_FILE) or by_key.get(name_key(WORKBOOK_FILE))
    root_workbook = (read_workbook(book_file.local_path, book_file.path, ROOT_FORM_TYPES, workbook_limits)
                     if book_file is not None else None)
    plan_sheet = root_workbook.forms.get("training_plan") if root_workbook else None
    if plan_file is None and plan_sheet is not None:
        plan, plan_problem = plan_sheet.value, None
    else:
        plan, plan_problem = _read_plan(plan_file, prefix.rstrip("/"), root_name)
    inst = plan.get("institution") if plan else None
    plan_institution = inst.get("name") if isinstance(inst, dict) else None
    if not isinstance(plan_institution, str) or not plan_institution:
        plan_institution = None
    trainings = _trainings(plan)
    by_folder: dict[str, Training] = {}
    for t in trainings:
        by_folder.setdefault(t.folder, t)

    folders: dict[str, TrainingFolder] = {}
    media: list[MediaFile] = []
    names = sorted(dirs.get("", ()))
    expected_of = {name: name if name in by_folder else canonical_training(name) for name in names}
    expected_of.update(_misnamed_trainings(names, expected_of, list(by_folder), dirs, files_in))
    for name in names:
        training = by_folder.get(name)
        expected = expected_of[name]
        sections = tuple(s for s in SECTIONS if s in dirs.get(name, ()))
        folders[name] = TrainingFolder(name, training, expected, sections)
        for section in sections:
            for f in files_in.get(f"{name}/{section}", ()):
                file_name = f.path.rsplit("/", 1)[-1]
                ext = split_ext(file_name)[1]
                kind = PHOTO if ext in PHOTO_EXTS else VIDEO if ext in VIDEO_EXTS else None
                if kind:
                    media.append(MediaFile(f, name, section, kind,
                                           _media_number(file_name, expected, section)))

    return Layout(
        root_prefix=prefix, root_name=root_name, root_ok=root_ok, top_entries=top_entries,
        wrapper=wrapper, name_institution=name_institution, name_date=name_date,
        report_date=report_date, plan=plan, plan_problem=plan_problem,
        institution=plan_institution or name_institution or None,
        plan_institution=plan_institution, trainings=trainings,
        theory_mode=_strings(plan.get("theory_mode")) if plan else (),
        practice_mode=_strings(plan.get("practice_mode")) if plan else (),
        training_folders=tuple(folders), folders=folders,
        media=tuple(sorted(media, key=lambda m: m.file.path)),
        files=tuple(f for _, f in below),
        _by_path=by_path, _by_key=by_key,
        _dirs={k: tuple(sorted(v)) for k, v in dirs.items()},
        _files_in={k: tuple(sorted(v, key=lambda f: f.path)) for k, v in files_in.items()},
        root_workbook=root_workbook, workbook_limits=workbook_limits,
    )
