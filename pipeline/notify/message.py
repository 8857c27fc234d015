"""The receipt mail of one stored decision: subject, plain text and HTML in Chinese, the
document attached, addressed with the institution registry (pipeline/notify/registry.py).
Every personal number (a 身份证号 or a mobile number, pipeline/check/privacy.py) is masked,
in the subject, the bodies and the attached document; nothing else is."""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from pipeline.check.documents import ACCEPTED, DUPLICATE, REJECTED, dumps, upload_note
from pipeline.check.privacy import redact, redact_whole
from pipeline.check.report import (STATUS_LABEL, TECHNICAL_HEADING, numbered_problems, render_technical,
                                   render_text, technical_rows)
from pipeline.notify.registry import Match, Registry, valid_address

SUBJECT_WORD = STATUS_LABEL  # 已受理 | 未通过 | 重复提交
UNKNOWN_INSTITUTION = "未识别的机构"


def mailbox(text: str) -> Address:
    """``培训上报回执 <receipts@example.cn>`` or ``receipts@example.cn`` as an Address."""
    name, addr = parseaddr(text)
    if not addr or not valid_address(addr):
        raise ValueError(f"not an e-mail address (plain ASCII, optionally with a name: 名称 <x@example.cn>): {text!r}")
    username, domain = addr.rsplit("@", 1)
    return Address(display_name=name, username=username, domain=domain)


@dataclass(frozen=True)
class ReceiptMail:
    receipt_id: str
    sender: str  # the envelope sender
    recipients: tuple[str, ...]  # the envelope recipients (To + Cc)
    message: EmailMessage
    match: Match | None
    #: the registered institution the package's plan names when it is not the uploading
    #: account's: flagged to the operator (the mail never goes to it)
    named_other: str | None = None
    #: the plan names another institution (``plan_institution``) than the account's
    plan_differs: bool = False
    plan_institution: str = ""

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def as_bytes(self) -> bytes:
        return self.message.as_bytes(policy=SMTP_POLICY)


def _masked(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the mail shows it: every personal number masked.

    Documents are built masked (pipeline/check/documents.py); this masks those stored
    before, and the upload account too (the stored document keeps it for the registry's
    match, which is made before). Receipt ids and digests are left alone."""
    return redact_whole(document)


_KIND_BY_SUFFIX = {".jpg": "photo", ".jpeg": "photo", ".mp4": "video", ".json": "form", ".pdf": "scan",
                   ".png": "screenshot"}
_KIND_LABEL = (("form", "表单", "份"), ("photo", "照片", "张"), ("video", "视频", "个"),
               ("screenshot", "平台截图", "张"), ("scan", "承诺书扫描件", "份"), ("other", "其他文件", "个"))


def file_counts(document: dict[str, Any]) -> dict[str, int]:
    """Files of the manifest by kind (form, photo, video, screenshot, scan, other)."""
    counts: dict[str, int] = {}
    for item in document.get("manifest") or []:
        kind = item.get("kind") or _KIND_BY_SUFFIX.get(PurePosixPath(item.get("path", "")).suffix.lower(), "other")
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def counts_line(counts: dict[str, int]) -> str:
    parts = [f"{label} {counts[kind]} {unit}" for kind, label, unit in _KIND_LABEL if counts.get(kind)]
    return "、".join(parts) if parts else "无"


def _local_time(iso_text: str | None) -> str:
    if not iso_text:
        return "—"
    try:
        return datetime.fromisoformat(iso_text).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso_text


def is_internal(document: dict[str, Any]) -> bool:
    return any(e.get("code") == "INTERNAL" for e in document.get("errors") or [])


@dataclass(frozen=True)
class _Texts:
    """The parts both bodies share, already masked."""

    institution: str
    status_word: str
    lead: str
    next_steps: list[str]
    notes: list[str]  # for the operator (no registry match) or about the Cc


def _texts(doc: dict[str, Any], match: Match | None, operator: str, plan_differs: bool = False,
           named_other: str | None = None) -> _Texts:
    status = doc["status"]
    name = (match.institution.name if match else None) or doc.get("institution") or UNKNOWN_INSTITUTION
    package = doc["package"]["name"]
    received = _local_time(doc.get("received_at"))
    rid = doc["receipt_id"]
    if status == ACCEPTED:
        lead = (f"您于 {received} 上传的培训上报材料“{package}”已通过检查，予以受理。"
                f"回执编号 {rid}，请妥善保存。")
        steps = ["无需其他操作。", "如需更正已受理的材料，请联系管理员并提供回执编号。"]
    elif status == DUPLICATE:
        lead = (f"您于 {received} 上传的“{package}”与此前已受理的回执 {doc.get('duplicate_of')} "
                f"的压缩包内容完全相同（逐字节一致），按重复提交处理，未再次登记。"
                f"原回执 {doc.get('duplicate_of')} 仍然有效。")
        steps = ["无需再次上传。", "如需更正材料，请修改后重新压缩，上传新的压缩包。"]
    elif is_internal(doc):
        lead = (f"系统处理您于 {received} 上传的“{package}”时发生内部错误。材料已妥善保存，"
                f"工作人员已收到通知，会尽快处理。")
        steps = ["无需重新上传。", f"如有疑问请联系管理员（{operator}）并提供回执编号 {rid}。"]
    else:
        count = len(doc.get("errors") or [])
        lead = (f"您于 {received} 上传的培训上报材料“{package}”未通过检查，共发现 {count} 项错误，"
                f"材料未被受理。下面按文件列出每一项错误和修改方法。")
        steps = ["按本邮件列出的错误逐项修改（每项错误后的“→”是修改方法）；",
                 "全部修改后，重新压缩为一个 ZIP 文件；",
                 "上传新的压缩包。系统会重新检查，并发送新的回执。"]
    notes: list[str] = []
    account = (doc.get("source") or {}).get("account") or "（无）"
    if match is None:
        notes.append(f"【致管理员】此回执未能匹配到机构名册中的机构（上传账户：{account}；"
                     f"培训方案中的机构名称：{doc.get('institution') or '（无）'}），因此发给管理员。"
                     f"请核实后转告该机构，并在机构名册（PIPELINE_INSTITUTIONS）中登记其邮箱和账户。")
        if named_other:
            notes.append(f"【致管理员·请注意】培训方案写的是名册中已登记的机构“{named_other}”，但上传账户"
                         f"（{account}）不属于该机构：回执没有发给该机构。请核实是谁上传的。")
    elif plan_differs:
        notes.append(f"【请注意】培训方案中的机构名称“{doc.get('institution')}”与上传账户（{account}）"
                     f"在机构名册中登记的机构“{match.institution.name}”不一致。回执按上传账户发给贵机构，"
                     f"并已抄送管理员。如材料不属于贵机构，或机构名称有误，请联系管理员（{operator}）。")
    elif status == REJECTED and is_internal(doc):
        notes.append("本邮件已抄送系统管理员。")
    return _Texts(redact(name), SUBJECT_WORD.get(status, status), redact(lead), [redact(s) for s in steps],
                  [redact(n) for n in notes])


#: the line of the receipt's web page (PIPELINE_WEB_PUBLIC_URL set)
WEB_LINK_LABEL = "在网上查看本回执："


def receipt_page_url(web_url: str, receipt_id: str) -> str:
    """The package's page of the web application: ``<web_url>/packages/<receipt id>``;
    "" when no web address is set."""
    return f"{web_url.rstrip('/')}/packages/{quote(receipt_id, safe='')}" if web_url else ""


def _text_body(doc: dict[str, Any], t: _Texts, link: str = "") -> str:
    lines = [*t.notes, *([""] if t.notes else []), f"{t.institution}：", "", "您好！", t.lead, ""]
    if link:
        lines += [f"{WEB_LINK_LABEL}{link}", ""]
    lines += ["—— 回执详情 ——", render_text(doc, technical=False)]
    if doc["status"] == ACCEPTED:
        lines.append(f"文件：{counts_line(file_counts(doc))}")
    lines += ["", "下一步："]
    lines += [f"  {n}. {step}" for n, step in enumerate(t.next_steps, 1)]
    lines += ["", "附件是本次检查的完整记录（JSON），请与压缩包一并保存。",
              "本邮件由系统自动发送。", "", *render_technical(doc)]
    return "\n".join(lines) + "\n"


_COLORS = {ACCEPTED: "#1a7f37", REJECTED: "#c62828", DUPLICATE: "#8a6d00"}
_CELL = "padding:4px 8px 4px 0;vertical-align:top;"


def _html_body(doc: dict[str, Any], t: _Texts, subject: str, link: str = "") -> str:
    e = html.escape
    pkg = doc["package"]
    rows = [("回执编号", f"<b>{e(doc['receipt_id'])}</b>"), ("结果", e(t.status_word)),
            ("压缩包", f"{e(pkg['name'])}（{pkg['size']} 字节）")]
    if doc.get("institution"):
        rows.append(("培训机构", e(doc["institution"])))
    if doc.get("report_date"):
        rows.append(("上报日期", e(doc["report_date"])))
    if doc.get("trainings"):
        rows.append(("培训", e("、".join(f"{x['occupation']}{x['level']}" + (f"（{x['trainees']} 人）"
                                                                          if x.get("trainees") else "")
                                       for x in doc["trainings"]))))
    if doc["status"] == ACCEPTED:
        rows.append(("文件", e(counts_line(file_counts(doc)))))
    if doc.get("duplicate_of"):
        rows.append(("原回执", f"<b>{e(doc['duplicate_of'])}</b>"))
    if doc.get("supersedes"):
        rows.append(("取代回执", f"<b>{e(doc['supersedes'])}</b>（重新检查）"))
    if note := upload_note(doc):  # a folder or loose files, packed by the pipeline (issue 15)
        rows.append(("上传方式", e(note)))
    rows.append(("接收时间", e(_local_time(doc.get("received_at")))))
    out = ["<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(subject)}</title></head>",
           '<body style="margin:0;padding:0;background:#f4f5f7">',
           '<div style="max-width:640px;margin:0 auto;padding:16px;background:#ffffff;color:#222222;'
           "font-family:-apple-system,'PingFang SC','Hiragino Sans GB','Microsoft YaHei',sans-serif;"
           'font-size:16px;line-height:1.6;word-wrap:break-word">']
    for note in t.notes:
        out.append(f'<p style="padding:8px 12px;background:#fff4e5;border-left:4px solid #f0a020">{e(note)}</p>')
    out.append(f'<div style="padding:10px 14px;border-radius:6px;background:{_COLORS.get(doc["status"], "#555")};'
               f'color:#ffffff;font-size:18px;font-weight:bold">{e(t.status_word)}</div>')
    out.append(f"<p>{e(t.institution)}：</p><p>您好！{e(t.lead)}</p>")
    if link:
        out.append(f'<p>{WEB_LINK_LABEL}<a href="{e(link)}" style="color:#1a5fb4;word-break:break-all">{e(link)}</a></p>')
    out.append('<table style="border-collapse:collapse;font-size:15px">')
    out += [f'<tr><td style="{_CELL}color:#666;white-space:nowrap">{k}</td><td style="{_CELL}">{v}</td></tr>'
            for k, v in rows]
    out.append("</table>")
    shown_title = None
    for title, count, path, items in numbered_problems(doc):
        if title != shown_title:
            out.append(f'<h3 style="font-size:17px;margin:20px 0 8px">{title}（{count} 项）</h3>')
            shown_title = title
        out.append(f'<div style="margin:12px 0 4px;font-weight:bold;word-break:break-all">{e(path)}</div>')
        out.append(f'<ol start="{items[0][0]}" style="margin:0;padding-left:28px">')
        for _, p in items:
            hint = (f'<br><span style="color:#1a5fb4">→ {e(p["hint"])}</span>' if p.get("hint") else "")
            out.append(f'<li style="margin:4px 0">{e(p["message"])}{hint}</li>')
        out.append("</ol>")
    out.append('<h3 style="font-size:17px;margin:20px 0 8px">下一步</h3><ol style="padding-left:20px">')
    out += [f"<li>{e(step)}</li>" for step in t.next_steps]
    out.append("</ol>")
    out.append('<p style="color:#888;font-size:13px">附件是本次检查的完整记录（JSON），请与压缩包一并保存。'
               "本邮件由系统自动发送。</p>")
    out.append(f'<div style="margin-top:24px;padding-top:8px;border-top:1px solid #dddddd;color:#888888;'
               f'font-size:12px;font-family:monospace;word-break:break-all">{e(TECHNICAL_HEADING)}')
    out += [f"<br>{e(label)} {e(value)}" for label, value in technical_rows(doc)]
    out.append("</div></div></body></html>")
    return "\n".join(out) + "\n"


def attachment_names(document: dict[str, Any]) -> tuple[str, str]:
    """(the Chinese file name, the short ASCII name) of the attached document."""
    rid = document["receipt_id"]
    if document["status"] == REJECTED:
        return f"错误清单-{rid}.json", f"{rid}-errors.json"
    return f"回执-{rid}.json", f"{rid}-receipt.json"


def build_receipt_mail(document: dict[str, Any], *, registry: Registry, mail_from: str, operator_email: str,
                       now: datetime, web_url: str = "") -> ReceiptMail:
    """The receipt mail of one stored decision document; with ``web_url`` (the web
    application's public address) it links to the package's page there."""
    match = registry.match_document(document)  # by the uploading account only
    plan_name = (document.get("institution") or "").strip()
    plan_differs = bool(match and plan_name and plan_name != match.institution.name)
    named = registry.named(plan_name)
    named_other = named.name if (named is not None and (match is None or named != match.institution)) else None
    doc = _masked(document)
    rid = doc["receipt_id"]
    sender = mailbox(mail_from)
    operator = mailbox(operator_email)
    to = [mailbox(a) for a in match.institution.emails] if match else [operator]
    copy_operator = bool(match and (is_internal(doc) or plan_differs))
    cc = [operator] if (copy_operator and operator.addr_spec not in {a.addr_spec for a in to}) else []
    t = _texts(doc, match, operator.addr_spec, plan_differs, named_other)
    # one line whatever the package's plan holds: a line break in a header value is refused
    # by the mail library (every send would fail) and is how headers are injected
    subject = _one_line(f"【回执】{t.institution} 培训上报材料{t.status_word}（回执编号 {rid}）")

    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    if operator.addr_spec not in {a.addr_spec for a in to}:
        msg["Reply-To"] = operator
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{rid}.receipt@{sender.domain}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to receipts
    msg["X-Receipt-Id"] = rid
    # base64 (never raw 8bit: the SMTP policy would choose 8bit for short Chinese lines)
    link = receipt_page_url(web_url, rid)
    msg.set_content(_text_body(doc, t, link), subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(_html_body(doc, t, subject, link), subtype="html", charset="utf-8", cte="base64")
    chinese_name, ascii_name = attachment_names(doc)
    attached = dumps(document) if doc == document else dumps(doc)  # the stored bytes unless masked
    msg.add_attachment(attached, maintype="application", subtype="json", filename=chinese_name, cte="base64")
    # Fixed boundaries: the email package's random ones are 19-digit runs, which look like
    # ID numbers to a scanner (and differ on every build of the same mail).
    msg.set_boundary(f"=_mixed_{rid}")
    for part in msg.walk():
        if part is msg:
            continue
        if part.is_multipart():
            part.set_boundary(f"=_alt_{rid}")
        del part["MIME-Version"]  # only the top level carries it
        if part.get_content_maintype() == "text":
            part["Content-Language"] = "zh-CN"
        if part.get_content_type() == "application/json":
            part.set_param("name", ascii_name)  # Content-Type name=: the short ASCII fallback
    recipients = tuple(dict.fromkeys(a.addr_spec for a in [*to, *cc]))
    return ReceiptMail(receipt_id=rid, sender=sender.addr_spec, recipients=recipients, message=msg, match=match,
                       named_other=named_other if match is None or plan_differs else None,
                       plan_differs=plan_differs, plan_institution=_one_line(plan_name))


def _one_line(text: str) -> str:
    """``text`` with line breaks and other control characters as spaces."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
