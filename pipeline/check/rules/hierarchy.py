"""Hierarchy and name checks: the folder rules of spec section 2 and the naming,
numbering and count rules of section 3 (``HIER_*``, ``NAME_*``, ``MEDIA_COUNT``), plus
``W_PLEDGE_SCAN`` and the one report of an absent or unreadable ``培训方案.json``.

Every check reads :attr:`PackageView.layout` (see :mod:`pipeline.check.layout` for how level 1,
training folders and file names are recognised). Messages name the offending file or
folder by its path below level 1 (``育婴师初级/理论/x.jpg``); ``Problem.path`` is the
full path inside the ZIP.

Decisions (the spec leaves them open):

- Entries outside the chosen level-1 folder are named once in ``HIER_ROOT`` and not
  checked further. A folder that is not allowed is reported once, never its content.
- Every folder directly under level 1 is a training folder: one matching no plan
  training is ``HIER_LEVEL2_UNKNOWN`` (not ``HIER_UNEXPECTED``). When it only differs
  by a level alias or spaces, the message names the right spelling, the training is not
  also reported ``HIER_LEVEL2_MISSING``, and its content is checked against the right
  spelling. A folder that is not occupation + level at all (``新建文件夹``) is reported and
  its content left alone. Without a plan listing trainings, folder names are judged only
  on their form (alias, not occupation + level).
- A missing (or empty: empty folders do not survive zipping) ``理论/`` or ``实操/`` is
  ``HIER_SECTION_MISSING`` only, not also ``MEDIA_COUNT``.
- In a section folder: files with an image or video extension (``.png``, ``.heic``,
  ``.mov``, ``.avi`` …) count as photos or videos for ``MEDIA_COUNT`` and get
  ``NAME_PATTERN`` ("照片须为 JPG 格式"), so one PNG among five photos is one error. A file
  without extension is ``NAME_PATTERN``. Other files (``.txt``, ``.docx``, ``.pdf``) and
  any subfolder are ``HIER_UNEXPECTED``.
- Numbers are ASCII digits without leading zeros (``理论01.jpg`` and a full-width
  ``理论１.jpg`` are ``NAME_PATTERN``). A well-formed name with a number outside
  1..count, or a number used twice (``理论1.jpg`` and ``理论1.JPEG``) is
  ``NAME_SEQUENCE``. Missing numbers are ``NAME_SEQUENCE`` only when the misnamed files
  of that kind in the folder cannot account for them (fixing a misnamed file must not
  leave a second error behind); a folder with no well-named file of a kind gets no
  ``NAME_SEQUENCE`` for it (``MEDIA_COUNT`` or ``NAME_PATTERN`` already says it all).
- Screenshots: ``线上培训截图<n>`` with n in 1..``screenshot_max_count``, ``.jpg``,
  ``.jpeg`` or ``.png`` in any case; gaps and repeats across extensions are allowed. A
  name starting with ``线上培训截图`` that breaks this is ``NAME_PATTERN``; any other file
  not allowed in a training folder is ``HIER_UNEXPECTED``.
- ``HIER_ROOT_NAME``: with no readable institution name in the plan only the date (and
  a name that is nothing but a date) is checked. A flat archive's name is its ZIP name.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from datetime import date
from typing import Any, Iterable, Iterator

from pipeline.check.catalogue import Problem, problem
from pipeline.check.view import PackageView
from pipeline.check.contract import (IMAGE_LIKE_EXTS, PHOTO, PHOTO_EXTS, PLEDGE_SCANS, ROOT_FORM_FILES,
                                     SCREENSHOT_EXTS, SCREENSHOT_STEM, SECTIONS, TRAINING_FORM_FILES, VIDEO,
                                     VIDEO_EXTS, VIDEO_LIKE_EXTS, WORKBOOK_FILE)
from pipeline.check.layout import Layout, TrainingFolder, name_key, split_ext
from pipeline.check.package_reader import ExtractedFile

__all__ = ["HIERARCHY_CHECKS", "check_hierarchy", "check_root", "check_root_name", "check_plan_readable",
           "check_root_files", "check_training_folders", "check_training_contents", "check_media_names"]

KIND_LABEL = {PHOTO: "照片", VIDEO: "视频"}
KIND_UNIT = {PHOTO: "张", VIDEO: "段"}
_MAX_LISTED = 8


def _quote_list(items: Iterable[str], limit: int = _MAX_LISTED) -> str:
    items = list(items)
    text = "、".join(f"“{i}”" for i in items[:limit])
    return text + (f" 等 {len(items)} 项" if len(items) > limit else "")


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _example_root(view: PackageView) -> str:
    lay = view.layout
    inst = lay.plan_institution or lay.name_institution or "某某职业培训学校"
    day = lay.report_date if lay.report_date and lay.report_date <= view.today else view.today
    return f"{inst}{day:%Y%m%d}"


# ---------------------------------------------------------------------------------------
# level 1


def check_root(view: PackageView) -> Iterator[Problem]:
    """HIER_ROOT: one top folder and nothing beside it (a flat archive is fine)."""
    lay = view.layout
    if lay.root_ok:
        return
    if lay.wrapper:
        found = f"文件夹“{lay.wrapper}”里又套了一层文件夹“{lay.root_name}/”"
    elif lay.top_entries:
        found = _quote_list(lay.top_entries)
    else:
        found = "无"
    checked = ""
    if not lay.wrapper and not lay.flat and len(lay.top_entries) > 1:
        checked = f"；以下按其中的“{lay.root_name}/”检查"
    yield problem("HIER_ROOT", "", found=found, checked=checked, example=_example_root(view),
                  entries=list(lay.top_entries), wrapper=lay.wrapper or "", checked_folder=lay.root_name)


def check_root_name(view: PackageView) -> Iterator[Problem]:
    """HIER_ROOT_NAME: the plan's institution name followed by a real, past report date."""
    lay = view.layout
    reasons: list[str] = []
    faults: list[str] = []  # one key per reason, in the same order
    expected = lay.plan_institution
    if lay.name_date is None:
        reasons.append("名称末尾没有上报日期（应为 8 位数字 YYYYMMDD，如 20261120；"
                       "也可写作 2026-11-20 或 2026年11月20日）")
        faults.append("date_missing")
        if expected is not None and not lay.root_name.startswith(expected):
            reasons.append(f"机构名称应为培训方案中的“{expected}”")
            faults.append("institution_mismatch")
    else:
        if lay.report_date is None:
            reasons.append(f"上报日期“{lay.name_date}”不是有效的日期")
            faults.append("date_invalid")
        elif lay.report_date > view.today:
            reasons.append(f"上报日期{_day(lay.report_date)}晚于检查当天（{_day(view.today)}）")
            faults.append("date_future")
        if not lay.name_institution:
            reasons.append("日期前缺少机构名称" + (f"“{expected}”" if expected else ""))
            faults.append("institution_missing")
        elif expected is not None and lay.name_institution != expected:
            reasons.append(f"机构名称“{lay.name_institution}”与培训方案中的“{expected}”不一致")
            faults.append("institution_mismatch")
    if not reasons:
        return
    # a ZIP made from the folder's contents (no level-1 folder): its own name stands in,
    # and the fix is to compress the folder itself (or to rename the ZIP); loose files the
    # pipeline packed: no ZIP of the clerk's to rename, the fix is to zip the folder
    yield problem("HIER_ROOT_NAME", lay.root_path, name=lay.root_name, reason="；".join(reasons),
                  example=_example_root(view), faults=faults, flat=lay.flat,
                  fault=("loose_files" if lay.flat and view.uploaded_as == "files"
                         else "flat_archive" if lay.flat else "folder_name"),
                  date=lay.name_date or "", institution=lay.name_institution or "",
                  plan_institution=expected or "")


def check_plan_readable(view: PackageView) -> Iterator[Problem]:
    """培训方案.json absent (FORM_MISSING) or unreadable (FORM_JSON): reported here once."""
    if view.layout.plan_problem is not None:
        yield view.layout.plan_problem


def check_root_files(view: PackageView) -> Iterator[Problem]:
    """HIER_UNEXPECTED for files at level 1 the spec does not list; W_PLEDGE_SCAN."""
    lay = view.layout
    allowed = {name_key(n) for n in (*ROOT_FORM_FILES, *PLEDGE_SCANS, WORKBOOK_FILE)}
    for f in lay.files_in(""):
        if name_key(lay.relative(f)) not in allowed:
            yield problem("HIER_UNEXPECTED", f.path, name=lay.relative(f))
    if not any(lay.file_at(scan) for scan in PLEDGE_SCANS):
        yield problem("W_PLEDGE_SCAN", lay.root_path)


# ---------------------------------------------------------------------------------------
# level 2


def check_training_folders(view: PackageView) -> Iterator[Problem]:
    """HIER_LEVEL2_UNKNOWN for folders of no plan training, HIER_LEVEL2_MISSING for plan
    trainings without a folder."""
    lay = view.layout
    planned = list(dict.fromkeys(t.folder for t in lay.trainings))
    for name, tf in lay.folders.items():
        if tf.training is not None:
            continue
        # spelling: the right spelling the suggestion names; listed: the plan's
        # trainings it lists (both raw, beside the worded suggestion)
        spelling, listed, facts = "", [], {}
        if lay.plan_has_trainings:
            if tf.expected is not None and tf.expected != name and tf.expected in planned:
                suggestion = f"应写作“{tf.expected}”。"
                spelling, facts = tf.expected, {"fault": "respell"}
            elif tf.expected is not None and tf.expected != name:
                suggestion = (f"按规范应写作“{tf.expected}”，但培训方案中也没有该培训；"
                              f"方案中的培训为：{_quote_list(planned)}。")
                spelling, listed = tf.expected, planned
            else:
                suggestion = f"培训方案中的培训为：{_quote_list(planned)}。"
                listed = planned
        elif tf.expected is None:
            suggestion = ""
        elif tf.expected != name:
            suggestion = f"应写作“{tf.expected}”。"
            spelling = tf.expected
        else:
            continue  # no plan to judge against
        yield problem("HIER_LEVEL2_UNKNOWN", lay.full(name), name=name, suggestion=suggestion,
                      spelling=spelling, listed=listed, **facts)
    spelled = {tf.expected for tf in lay.folders.values()}
    for folder in planned:
        if folder not in spelled:
            yield problem("HIER_LEVEL2_MISSING", lay.full(folder), name=folder)


def _training_folders(lay: Layout) -> Iterator[TrainingFolder]:
    """Folders whose content is checked: those that are (or are spelled like) a training."""
    return (tf for tf in lay.folders.values() if tf.is_training)


def _screenshot_reasons(name: str, max_count: int) -> tuple[list[str], str, dict[str, Any]]:
    """(reasons, example, raw parameters: ``faults``, one key per reason, and the facts)."""
    stem, ext = split_ext(name)
    reasons: list[str] = []
    faults: list[str] = []
    if ext not in SCREENSHOT_EXTS:
        reasons.append(f"平台截图须为 .jpg 或 .png 图片（实际为“{ext or '无扩展名'}”）")
        faults.append("screenshot_ext")
    rest = stem[len(SCREENSHOT_STEM):]
    number = 1
    if rest == "":
        reasons.append("缺少序号")
        faults.append("number_missing")
    elif not re.fullmatch(r"[0-9]+", rest):
        reasons.append(f"序号“{rest}”应为半角数字")
        faults.append("number_not_ascii")
    elif rest.startswith("0") and len(rest) > 1:
        reasons.append(f"序号“{rest}”不应以 0 开头")
        faults.append("leading_zero")
        number = int(rest) if 1 <= int(rest) <= max_count else 1
    elif not 1 <= int(rest) <= max_count:
        reasons.append(f"序号应为 1 至 {max_count}，实际为 {rest}")
        faults.append("number_range")
    else:
        number = int(rest)
    facts = {"faults": faults, "ext": ext, "digits": rest, "max_number": max_count}
    return reasons, f"{SCREENSHOT_STEM}{number}{ext if ext in SCREENSHOT_EXTS else '.png'}", facts


def check_training_contents(view: PackageView) -> Iterator[Problem]:
    """In each training folder: 理论/ and 实操/ present (HIER_SECTION_MISSING), nothing but
    the allowed forms, screenshots and section folders (HIER_UNEXPECTED, NAME_PATTERN for
    misnamed screenshots), no subfolder in a section (HIER_UNEXPECTED)."""
    lay = view.layout
    rules = view.policy.media
    forms = {name_key(n) for n in (*TRAINING_FORM_FILES, WORKBOOK_FILE)}
    for tf in _training_folders(lay):
        for section in SECTIONS:
            if section not in tf.sections:
                yield problem("HIER_SECTION_MISSING", lay.full(f"{tf.name}/{section}"),
                              training=tf.name, section=section,
                              photos=rules.photo_count, videos=rules.video_count)
        for sub in lay.subfolders(tf.name):
            if sub not in SECTIONS:
                yield problem("HIER_UNEXPECTED", lay.full(f"{tf.name}/{sub}"), name=f"{tf.name}/{sub}/")
        for f in lay.files_in(tf.name):
            name = f.path.rsplit("/", 1)[-1]
            if name_key(name) in forms:
                continue
            if name.startswith(SCREENSHOT_STEM):
                reasons, example, facts = _screenshot_reasons(name, rules.screenshot_max_count)
                if reasons:
                    yield problem("NAME_PATTERN", f.path, name=name,
                                  reason="；".join(reasons), example=example, **facts)
                continue
            yield problem("HIER_UNEXPECTED", f.path, name=lay.relative(f))
        for section in tf.sections:
            for sub in lay.subfolders(f"{tf.name}/{section}"):
                yield problem("HIER_UNEXPECTED", lay.full(f"{tf.name}/{section}/{sub}"),
                              name=f"{tf.name}/{section}/{sub}/")


# ---------------------------------------------------------------------------------------
# level 3: names, numbering and counts of photos and videos


_MEDIA_NAME = re.compile(r"(?P<head>.*)(?P<section>理论|实操)(?P<digits>[0-9]+)")


def _media_reasons(name: str, kind: str | None, expected: str, section: str,
                   ) -> tuple[list[str], str | None, dict[str, Any]]:
    """Why ``name`` is not ``<expected><section><n>.<ext>``; the digits found, if any; the
    raw parameters: ``faults`` (one key per reason, in order) and the facts they quote."""
    stem, ext = split_ext(name)
    reasons: list[str] = []
    faults: list[str] = []
    facts: dict[str, Any] = {"faults": faults, "ext": ext, "training": expected, "section": section}
    if kind is None:
        reasons.append("缺少扩展名（照片为 .jpg，视频为 .mp4）")
        faults.append("no_ext")
    elif kind == PHOTO and ext not in PHOTO_EXTS:
        reasons.append(f"照片须为 JPG 格式，扩展名应为 .jpg（实际为 {ext}）")
        faults.append("photo_ext")
    elif kind == VIDEO and ext not in VIDEO_EXTS:
        reasons.append(f"视频须为 MP4 格式，扩展名应为 .mp4（实际为 {ext}）")
        faults.append("video_ext")
    plain = unicodedata.normalize("NFKC", stem)
    if plain != stem:
        reasons.append("文件名中有全角字符（如全角数字），请改为半角")
        faults.append("full_width")
    m = _MEDIA_NAME.fullmatch(plain)
    if m is None:
        if plain.startswith(expected + section):
            reasons.append("缺少序号")
            faults.append("number_missing")
        else:
            reasons.append(f"应为“{expected}{section}”加序号")
            faults.append("stem")
        return reasons, None, facts
    head, written_section, digits = m["head"], m["section"], m["digits"]
    facts.update(written_training=head, written_section=written_section, digits=digits)
    if head != expected:
        if re.sub(r"\s+", "", head) == expected:
            reasons.append("文件名中不应有空格")
            faults.append("spaces")
        else:
            reasons.append(f"文件名中的职业和等级“{head}”与所在培训文件夹“{expected}”不一致")
            faults.append("training")
    if written_section != section:
        reasons.append(f"文件名表明它属于“{written_section}”，却放在了“{section}”文件夹中"
                       f"（应移到“{written_section}”文件夹）")
        faults.append("section")
    if digits.startswith("0") and len(digits) > 1:
        reasons.append(f"序号“{digits}”不应以 0 开头")
        faults.append("leading_zero")
    if not reasons:  # e.g. an occupation whose own name contains 理论 or 实操
        reasons.append(f"应为“{expected}{section}”加序号")
        faults.append("stem")
    return reasons, digits, facts


def check_media_names(view: PackageView) -> Iterator[Problem]:
    """Per 理论/ and 实操/ folder: NAME_PATTERN per misnamed file, MEDIA_COUNT per kind,
    NAME_SEQUENCE per kind (see the module doc for how they are kept apart)."""
    lay = view.layout
    rules = view.policy.media
    wanted = {PHOTO: rules.photo_count, VIDEO: rules.video_count}
    numbers = {m.file.path: m.number for m in lay.media}
    for tf in _training_folders(lay):
        expected = tf.expected or tf.name  # never None here: only training folders
        for section in tf.sections:
            folder = f"{tf.name}/{section}"
            count: Counter[str] = Counter()
            named: dict[str, list[int]] = {PHOTO: [], VIDEO: []}
            misnamed: list[tuple[ExtractedFile, str, str | None]] = []
            for f in lay.files_in(folder):
                name = f.path.rsplit("/", 1)[-1]
                ext = split_ext(name)[1]
                kind = PHOTO if ext in IMAGE_LIKE_EXTS else VIDEO if ext in VIDEO_LIKE_EXTS else None
                if kind is None and ext:
                    yield problem("HIER_UNEXPECTED", f.path, name=lay.relative(f))
                    continue
                if kind is not None:
                    count[kind] += 1
                number = numbers.get(f.path)  # set only for well-named .jpg/.jpeg/.mp4
                if kind is not None and number is not None:
                    named[kind].append(number)
                else:
                    misnamed.append((f, name, kind))
            # each example proposes a number still free: the file's own when it is, else
            # the lowest left, so two misnamed files are not both told to take the same
            free = {k: [n for n in range(1, wanted[k] + 1) if n not in named[k]] for k in wanted}
            diagnosed = [(f, name, kind or PHOTO, *_media_reasons(name, kind, expected, section))
                         for f, name, kind in misnamed]
            own: dict[str, int] = {}
            for f, _, k, _, digits, _ in diagnosed:
                if digits and int(digits) in free[k]:
                    free[k].remove(int(digits))
                    own[f.path] = int(digits)
            for f, name, k, reasons, digits, facts in diagnosed:
                n = own.get(f.path) or (free[k].pop(0) if free[k] else 1)
                example = f"{expected}{section}{n}{'.jpg' if k == PHOTO else '.mp4'}"
                yield problem("NAME_PATTERN", f.path, name=name, reason="；".join(reasons),
                              example=example, **facts)
            for kind in (PHOTO, VIDEO):
                # a file without extension may be meant as either kind
                fault = _sequence_fault(sorted(named[kind]), wanted[kind],
                                        sum(1 for m in misnamed if m[2] in (kind, None)))
                said = _count_says_it(fault, count[kind], wanted[kind])
                if count[kind] != wanted[kind]:
                    detail, facts = "", {}
                    if said is not None:
                        differing, cause = said
                        names = "、".join(f"“{expected}{section}{n}{'.jpg' if kind == PHOTO else '.mp4'}”"
                                         for n in differing)
                        detail = f"，{'缺少' if cause == 'missing' else '多出'}{names}"
                        facts = {"fault": cause, "numbers": differing}
                    yield problem("MEDIA_COUNT", lay.full(folder), folder=folder, kind=KIND_LABEL[kind],
                                  expected=wanted[kind], found=count[kind], unit=KIND_UNIT[kind],
                                  media=kind, detail=detail, **facts)
                if fault and said is None:
                    found, facts = fault
                    yield problem("NAME_SEQUENCE", lay.full(folder), folder=folder, kind=KIND_LABEL[kind],
                                  max=wanted[kind], found=found, media=kind, **facts)


def _count_says_it(fault: tuple[str, dict[str, list[int]]] | None, count: int, wanted: int
                   ) -> tuple[list[int], str] | None:
    """One fault, one error: when a wrong count and the numbering describe the same files
    (a photo missing: 1-4 of 5; one too many: 6 of 5), MEDIA_COUNT names them and no
    NAME_SEQUENCE is added. Returns (those numbers, ``missing`` | ``extra``), else None."""
    if fault is None:
        return None
    facts = fault[1]
    if count < wanted and not facts["repeated"] and not facts["outside"] \
            and len(facts["missing"]) == wanted - count:
        return facts["missing"], "missing"
    if count > wanted and not facts["repeated"] and not facts["missing"] \
            and len(facts["outside"]) == count - wanted:
        return facts["outside"], "extra"
    return None


def _sequence_fault(numbers: list[int], top: int, misnamed: int) -> tuple[str, dict[str, list[int]]] | None:
    """The ``found`` text of NAME_SEQUENCE and its raw parameters (``numbers``, ``repeated``,
    ``outside``, ``missing``), or None when the numbering is acceptable."""
    if not numbers:
        return None
    counts = Counter(numbers)
    repeated = [n for n in sorted(counts) if counts[n] > 1]
    outside = [n for n in sorted(counts) if not 1 <= n <= top]
    missing = [n for n in range(1, top + 1) if n not in counts]
    if not repeated and not outside and len(missing) <= misnamed:
        return None
    details = [f"序号 {n} 出现 {counts[n]} 次" for n in repeated]
    if outside:
        details.append(f"序号 {'、'.join(map(str, outside))} 超出范围")
    if missing:
        details.append(f"缺少序号 {'、'.join(map(str, missing))}")
    facts = {"numbers": numbers, "repeated": repeated, "outside": outside, "missing": missing}
    return f"{'、'.join(map(str, numbers))}（{'；'.join(details)}）", facts


HIERARCHY_CHECKS = (check_root, check_root_name, check_plan_readable, check_root_files,
                    check_training_folders, check_training_contents, check_media_names)


def check_hierarchy(view: PackageView) -> list[Problem]:
    """Every hierarchy and name check, in reporting order."""
    return [p for check in HIERARCHY_CHECKS for p in check(view)]
