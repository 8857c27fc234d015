"""A document rendered for people: Chinese, grouped by file, with the hints."""

from __future__ import annotations

from typing import Any

from pipeline.check.documents import group_by_path

STATUS_LABEL = {"accepted": "已受理", "rejected": "未通过", "duplicate": "重复提交"}


#: the heading of a self-check (``pipeline check``): nothing was reported, so no receipt id
#: is shown; a clerk must never take a self-check for proof of submission
SELF_CHECK_LABEL = {"accepted": "通过，可以上报", "rejected": "未通过，请按下列各项修改后再检查"}


def render_text(document: dict[str, Any], *, self_check: bool = False) -> str:
    """The document as text. ``self_check``: the report of ``pipeline check``, headed
    自查结果（未上报）, without the receipt id a decision would have."""
    pkg = document["package"]
    status = document["status"]
    if self_check:
        heading = f"自查结果（未上报，不是回执）：{SELF_CHECK_LABEL.get(status, STATUS_LABEL.get(status, status))}"
    else:
        heading = f"回执编号 {document['receipt_id']}  结果：{STATUS_LABEL.get(status, status)}"
    lines = [heading, f"压缩包：{pkg['name']}（{pkg['size']} 字节，SHA-256 {pkg['sha256']}）"]
    if document.get("institution"):
        lines.append(f"培训机构：{document['institution']}  上报日期：{document.get('report_date') or '—'}")
    if document.get("trainings"):
        lines.append("培训：" + "、".join(f"{t['occupation']}{t['level']}" for t in document["trainings"]))
    if document.get("duplicate_of"):
        lines.append(f"该压缩包与此前已受理的回执 {document['duplicate_of']} 内容完全相同，无需重复提交。")
    if document.get("supersedes"):
        lines.append(f"本回执是对回执 {document['supersedes']} 的同一压缩包按现行规则重新检查的结果，取代该回执。")
    for title, key in (("错误", "errors"), ("提示", "warnings")):
        problems = document.get(key) or []
        if not problems:
            continue
        lines.append("")
        lines.append(f"{title}（{len(problems)} 项）：")
        for path, items in group_by_path(problems).items():
            lines.append(f"  {path}")
            for p in items:
                where = f" {p['pointer']}" if p.get("pointer") else ""
                lines.append(f"    [{p['code']}]{where} {p['message']}")
                if p.get("hint"):
                    lines.append(f"      → {p['hint']}")
    if document.get("ignored"):
        lines.append("")
        lines.append(f"已忽略的系统文件 {len(document['ignored'])} 个（不影响结果）。")
    if document["status"] == "accepted":
        lines.append("")
        files = len(document.get("manifest") or [])
        lines.append(f"共 {files} 个文件，上报并受理后登记。" if self_check else f"共 {files} 个文件已登记。")
    return "\n".join(lines)
