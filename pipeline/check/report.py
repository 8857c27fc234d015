"""A document rendered for people: Chinese, grouped by file, with the hints."""

from __future__ import annotations

from typing import Any

from pipeline.check.documents import group_by_path

STATUS_LABEL = {"accepted": "已受理", "rejected": "未通过", "duplicate": "重复提交"}


def render_text(document: dict[str, Any]) -> str:
    pkg = document["package"]
    lines = [
        f"回执编号 {document['receipt_id']}  结果：{STATUS_LABEL.get(document['status'], document['status'])}",
        f"压缩包：{pkg['name']}（{pkg['size']} 字节，SHA-256 {pkg['sha256']}）",
    ]
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
        lines.append(f"共 {len(document.get('manifest') or [])} 个文件已登记。")
    return "\n".join(lines)
