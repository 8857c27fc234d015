"""A document rendered for people: Chinese, grouped by file, with the hints.

Two audiences read it. The **clerk's part** says, per file, what is wrong and what to do,
in words only: no problem code, JSON pointer or hash (they mean nothing to a clerk and
bury the sentence that matters). The **operator's part** (:func:`render_technical`, at the
end, headed as not for the institution) repeats each problem's number with its code, its
place in the package and its JSON pointer, and the package's SHA-256: what an operator
greps the logs and the documents for. The numbers tie the two parts together.
"""

from __future__ import annotations

from typing import Any, Iterator

from pipeline.check.catalogue import format_size
from pipeline.check.documents import group_by_path, upload_note

STATUS_LABEL = {"accepted": "已受理", "rejected": "未通过", "duplicate": "重复提交"}


#: the heading of a self-check (``pipeline check``): nothing was reported, so no receipt id
#: is shown; a clerk must never take a self-check for proof of submission
SELF_CHECK_LABEL = {"accepted": "通过，可以上报", "rejected": "未通过，请按下列各项修改后再检查"}

#: the heading of the operator's part
TECHNICAL_HEADING = "—— 技术信息（供系统管理员查阅，机构无需理会）——"

_KINDS = (("错误", "errors"), ("提示", "warnings"))


def numbered_problems(document: dict[str, Any]) -> Iterator[tuple[str, int, str, list[tuple[int, dict[str, Any]]]]]:
    """(title, count, file path, [(number, problem)]) per kind and file, numbered 1.. across
    the document in the order shown (errors, then warnings). A hint said before in full
    (sixteen photos of another training: one fix) is shown as "办法同第 N 项。" after it."""
    number = 0
    said: dict[str, int] = {}
    for title, key in _KINDS:
        problems = document.get(key) or []
        for path, items in group_by_path(problems).items():
            numbered = []
            for problem in items:
                number += 1
                hint = problem.get("hint")
                if hint and hint in said:
                    problem = {**problem, "hint": f"办法同第 {said[hint]} 项。"}
                elif hint:
                    said[hint] = number
                numbered.append((number, problem))
            yield title, len(problems), path, numbered


def render_text(document: dict[str, Any], *, self_check: bool = False, technical: bool = True) -> str:
    """The document as text: the clerk's part, then (``technical``) the operator's part.
    ``self_check``: the report of ``pipeline check``, headed 自查结果（未上报）, without the
    receipt id a decision would have."""
    pkg = document["package"]
    status = document["status"]
    if self_check:
        heading = f"自查结果（未上报，不是回执）：{SELF_CHECK_LABEL.get(status, STATUS_LABEL.get(status, status))}"
    else:
        heading = f"回执编号 {document['receipt_id']}  结果：{STATUS_LABEL.get(status, status)}"
    lines = [heading, f"压缩包：{pkg['name']}（{format_size(int(pkg.get('size') or 0))}）"]
    if document.get("institution"):
        lines.append(f"培训机构：{document['institution']}  上报日期：{document.get('report_date') or '—'}")
    if document.get("trainings"):
        lines.append("培训：" + "、".join(f"{t['occupation']}{t['level']}" for t in document["trainings"]))
    if document.get("duplicate_of"):
        lines.append(f"该压缩包与此前已受理的回执 {document['duplicate_of']} 内容完全相同，无需重复提交。")
    if document.get("supersedes"):
        lines.append(f"本回执是对回执 {document['supersedes']} 的同一压缩包按现行规则重新检查的结果，取代该回执。")
    if note := upload_note(document):  # a folder or loose files, packed by the pipeline (issue 15)
        lines.append(note)
    shown_title = None
    for title, count, path, items in numbered_problems(document):
        if title != shown_title:
            lines += ["", f"{title}（{count} 项）："]
            shown_title = title
        lines.append(f"  {path}")
        for n, p in items:
            lines.append(f"    {n}. {p['message']}")
            if p.get("hint"):
                lines.append(f"       → {p['hint']}")
    if document.get("ignored"):
        lines.append("")
        lines.append(f"已忽略的系统文件 {len(document['ignored'])} 个（不影响结果）。")
    if status == "accepted":
        lines.append("")
        files = len(document.get("manifest") or [])
        lines.append(f"共 {files} 个文件，上报并受理后登记。" if self_check else f"共 {files} 个文件已登记。")
    if technical:
        lines += ["", *render_technical(document)]
    return "\n".join(lines)


def technical_rows(document: dict[str, Any]) -> list[tuple[str, str]]:
    """The operator's part as (label, value) rows: the package's digest, then each
    problem's number, code, place and JSON pointer."""
    pkg = document["package"]
    rows = [("SHA-256", str(pkg.get("sha256") or "—")), ("大小", f"{pkg.get('size')} 字节")]
    for _, _, path, items in numbered_problems(document):
        for n, p in items:
            where = (path + (f" {p['sheet']}!{p['cell']}" if p.get("sheet") and p.get("cell") else "")
                     + (f" {p['pointer']}" if p.get("pointer") else ""))
            rows.append((f"{n}.", f"{p['code']}  {where}"))
    return rows


def render_technical(document: dict[str, Any]) -> list[str]:
    """The operator's part as text lines (see the module doc)."""
    return [TECHNICAL_HEADING, *(f"  {label} {value}" for label, value in technical_rows(document))]
