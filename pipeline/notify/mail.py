"""Receipt mails: one Chinese mail per decision, never two.

Three parts:

- :func:`build_receipt_mail` turns a stored decision document into the mail (subject,
  plain text + HTML, the document attached), addressed with the institution registry
  (:mod:`pipeline.notify.registry`).
- :class:`SmtpTransport` / :class:`OutboxTransport` deliver it: to the server named by
  ``SMTP_URL``, or, with no ``SMTP_URL``, as an ``.eml`` file under ``DATA/outbox/``.
- :class:`Mailer` sends with exactly-once semantics, arbitrated by a small record per
  receipt in Redis (:class:`SendRecords`).

The states of one send (Redis key ``<namespace>:mail:<receipt id>``)::

    (absent) ─claim─> claimed ─before DATA─> data ─250─> sent
                 ^       │                     │
                 │       │ definite failure    ├─ no reply / connection lost ─> unknown
                 └─ retry <────────────────────┤  (never resent; logged for the operator)
                                               └─ 5xx for this message ───────> rejected

- ``claimed``: an attempt holds the send and has not yet issued the SMTP ``DATA``
  command, so nothing can have been delivered. The claim expires after
  :data:`CLAIM_SECONDS`; a later attempt may then take it over.
- ``data``: the ``DATA`` command is about to be sent. From here on a lost connection
  means the server may or may not have queued the message: the outcome is ``unknown``,
  and it is never resent automatically (a naive retry delivered two copies). An attempt
  that died in this state is turned into ``unknown`` by the next one after
  :data:`DATA_SECONDS`.
- ``retry``: a definite failure — nothing was delivered (connection refused, TLS or login
  failure, a 4xx reply before or to the message, every recipient refused with 4xx). The
  actor raises and Dramatiq retries; the next attempt claims again.
- ``sent``, ``unknown``, ``rejected``: final. A redelivered message finds them and sends
  nothing. ``rejected`` is a 5xx reply about this message (every recipient refused, or
  the message itself refused): retrying cannot help, the operator is told in the log.

The outbox transport writes ``<receipt id>.eml`` create-if-absent, so it is idempotent
and a stale ``data`` state is simply taken over there.
"""

from __future__ import annotations

import html
import json
import os
import smtplib
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import redis
import structlog

from pipeline.check.documents import ACCEPTED, DUPLICATE, REJECTED, dumps, group_by_path
from pipeline.notify.registry import Match, Registry, valid_address
from pipeline.check.privacy import redact
from pipeline.check.report import STATUS_LABEL, render_text
from pipeline.intake.store import write_if_absent

#: the Dramatiq queue of the mail actor (its own, so packages never wait behind mail)
MAIL_QUEUE = "mail"
#: retries of a definite failure, after Settings.mail_min_backoff_ms doubling to
#: Settings.mail_max_backoff_ms (15 s to 1 h by default: about a day and a half in all)
MAIL_MAX_RETRIES = 40
#: hard limit of one send attempt (the SMTP timeouts are far shorter)
MAIL_TIME_LIMIT_MS = 5 * 60 * 1000
#: seconds an SMTP operation (connect, each command, the message) may take
SMTP_TIMEOUT = 30.0
#: seconds a claim protects an attempt before DATA (connect+TLS+AUTH+MAIL+RCPT, each
#: bounded by SMTP_TIMEOUT); after that another attempt may take the send over
CLAIM_SECONDS = 300
#: seconds after which an attempt stuck in ``data`` (its worker died) counts as unknown
DATA_SECONDS = 900
#: how long send records are kept (as long as the ledger keeps decisions)
RECORD_TTL_SECONDS = 90 * 24 * 3600
#: the addresses of the outbox mode when MAIL_FROM / OPERATOR_EMAIL are not set
OUTBOX_FROM = "培训上报回执 <receipts@localhost>"
OUTBOX_OPERATOR = "operator@localhost"

FINAL_STATES = ("sent", "unknown", "rejected")
SUBJECT_WORD = STATUS_LABEL  # 已受理 | 未通过 | 重复提交
UNKNOWN_INSTITUTION = "未识别的机构"


# -- SMTP_URL -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SmtpTarget:
    """The mail server of ``SMTP_URL``: ``smtp://[user:pass@]host[:port][?starttls=1]``
    or ``smtps://[user:pass@]host[:port]`` (user and password percent-encoded)."""

    host: str
    port: int
    tls: bool = False  # smtps: TLS from the first byte
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> "SmtpTarget":
        """Raises ValueError with a message that never repeats the password."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"SMTP_URL is not a URL like smtp://user:pass@host:587?starttls=1: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {scheme + '://' if scheme else '(none)'}")
        if not parts.hostname:
            raise ValueError("SMTP_URL has no host (smtp://host:port)")
        if parts.path not in ("", "/"):
            raise ValueError("SMTP_URL must not have a path (smtp://user:pass@host:port?starttls=1)")
        starttls = False
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key != "starttls":
                raise ValueError(f"SMTP_URL: unknown option {key!r} (only starttls=0|1)")
            if value not in ("0", "1", "true", "false", "yes", "no"):
                raise ValueError(f"SMTP_URL: starttls must be 0 or 1, not {value!r}")
            starttls = value in ("1", "true", "yes")
        if scheme == "smtps" and starttls:
            raise ValueError("SMTP_URL: smtps:// is TLS already; starttls=1 goes with smtp://")
        if port is None:
            port = 465 if scheme == "smtps" else (587 if starttls else 25)
        if parts.password is not None and not parts.username:
            raise ValueError("SMTP_URL has a password but no user name")
        return cls(host=parts.hostname, port=port, tls=scheme == "smtps", starttls=starttls,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password is not None else None)

    def describe(self) -> str:
        """For logs: scheme, host and port, never the credentials."""
        suffix = "?starttls=1" if self.starttls else ""
        return f"{'smtps' if self.tls else 'smtp'}://{self.host}:{self.port}{suffix}"


def mailbox(text: str) -> Address:
    """``培训上报回执 <receipts@example.cn>`` or ``receipts@example.cn`` as an Address."""
    name, addr = parseaddr(text)
    if not addr or not valid_address(addr):
        raise ValueError(f"not an e-mail address (plain ASCII, optionally with a name: 名称 <x@example.cn>): {text!r}")
    username, domain = addr.rsplit("@", 1)
    return Address(display_name=name, username=username, domain=domain)


# -- building the mail --------------------------------------------------------------------
@dataclass(frozen=True)
class ReceiptMail:
    receipt_id: str
    sender: str  # the envelope sender
    recipients: tuple[str, ...]  # the envelope recipients (To + Cc)
    message: EmailMessage
    match: Match | None

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def as_bytes(self) -> bytes:
        return self.message.as_bytes(policy=SMTP_POLICY)


def _masked(value: Any, key: str = "") -> Any:
    """The document with every ID- or mobile-like number in a free-text value masked.

    Messages are masked by the checks already; names chosen by the uploader (the ZIP's
    name, file paths, the institution) are not, so they are masked here. Hashes are left
    alone: a hex digest may contain an 11-digit run that is no phone number.
    """
    if isinstance(value, str):
        return value if key.endswith("sha256") else redact(value)
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, key) for v in value]
    return value


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


def _texts(doc: dict[str, Any], match: Match | None, operator: str) -> _Texts:
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
                f"的压缩包内容完全相同（SHA-256 一致），按重复提交处理，未再次登记。"
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
                 "全部修改后，重新压缩为一个 ZIP 文件（可先用 pipeline check 自查）；",
                 "上传新的压缩包。系统会重新检查，并发送新的回执。"]
    notes: list[str] = []
    if match is None:
        account = (doc.get("source") or {}).get("account") or "（无）"
        notes.append(f"【致管理员】此回执未能匹配到机构名册中的机构（上传账户：{account}；"
                     f"培训方案中的机构名称：{doc.get('institution') or '（无）'}），因此发给管理员。"
                     f"请核实后转告该机构，并在机构名册（PIPELINE_INSTITUTIONS）中登记其邮箱和账户。")
    elif status == REJECTED and is_internal(doc):
        notes.append("本邮件已抄送系统管理员。")
    return _Texts(redact(name), SUBJECT_WORD.get(status, status), redact(lead), [redact(s) for s in steps],
                  [redact(n) for n in notes])


def _text_body(doc: dict[str, Any], t: _Texts) -> str:
    lines = [*t.notes, *([""] if t.notes else []), f"{t.institution}：", "", "您好！", t.lead, ""]
    lines += ["—— 回执详情 ——", render_text(doc)]
    if doc["status"] == ACCEPTED:
        lines.append(f"文件：{counts_line(file_counts(doc))}")
    lines += ["", "下一步："]
    lines += [f"  {n}. {step}" for n, step in enumerate(t.next_steps, 1)]
    lines += ["", "附件是本次检查的完整记录（JSON），请与压缩包一并保存。",
              "本邮件由系统自动发送。"]
    return "\n".join(lines) + "\n"


_COLORS = {ACCEPTED: "#1a7f37", REJECTED: "#c62828", DUPLICATE: "#8a6d00"}
_CELL = "padding:4px 8px 4px 0;vertical-align:top;"


def _html_body(doc: dict[str, Any], t: _Texts, subject: str) -> str:
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
    rows.append(("接收时间", e(_local_time(doc.get("received_at")))))
    rows.append(("SHA-256", f"<span style=\"font-family:monospace;font-size:13px;word-break:break-all\">"
                            f"{e(pkg['sha256'])}</span>"))
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
    out.append('<table style="border-collapse:collapse;font-size:15px">')
    out += [f'<tr><td style="{_CELL}color:#666;white-space:nowrap">{k}</td><td style="{_CELL}">{v}</td></tr>'
            for k, v in rows]
    out.append("</table>")
    for title, key in (("错误", "errors"), ("提示", "warnings")):
        problems = doc.get(key) or []
        if not problems:
            continue
        out.append(f'<h3 style="font-size:17px;margin:20px 0 8px">{title}（{len(problems)} 项）</h3>')
        for path, items in group_by_path(problems).items():
            out.append(f'<div style="margin:12px 0 4px;font-weight:bold;word-break:break-all">{e(path)}</div>')
            out.append('<ul style="margin:0;padding-left:20px">')
            for p in items:
                where = f" {e(p['pointer'])}" if p.get("pointer") else ""
                hint = (f'<br><span style="color:#1a5fb4">→ {e(p["hint"])}</span>' if p.get("hint") else "")
                out.append(f'<li style="margin:4px 0"><span style="color:#888;font-size:13px">[{e(p["code"])}]'
                           f"{where}</span> {e(p['message'])}{hint}</li>")
            out.append("</ul>")
    out.append('<h3 style="font-size:17px;margin:20px 0 8px">下一步</h3><ol style="padding-left:20px">')
    out += [f"<li>{e(step)}</li>" for step in t.next_steps]
    out.append("</ol>")
    out.append('<p style="color:#888;font-size:13px">附件是本次检查的完整记录（JSON），请与压缩包一并保存。'
               "本邮件由系统自动发送。</p></div></body></html>")
    return "\n".join(out) + "\n"


def attachment_names(document: dict[str, Any]) -> tuple[str, str]:
    """(the Chinese file name, the short ASCII name) of the attached document."""
    rid = document["receipt_id"]
    if document["status"] == REJECTED:
        return f"错误清单-{rid}.json", f"{rid}-errors.json"
    return f"回执-{rid}.json", f"{rid}-receipt.json"


def build_receipt_mail(document: dict[str, Any], *, registry: Registry, mail_from: str, operator_email: str,
                       now: datetime) -> ReceiptMail:
    """The receipt mail of one stored decision document."""
    match = registry.match_document(document)
    doc = _masked(document)
    rid = doc["receipt_id"]
    sender = mailbox(mail_from)
    operator = mailbox(operator_email)
    to = [mailbox(a) for a in match.institution.emails] if match else [operator]
    cc = [operator] if (match and is_internal(doc) and operator.addr_spec not in {a.addr_spec for a in to}) else []
    t = _texts(doc, match, operator.addr_spec)
    subject = f"【回执】{t.institution} 培训上报材料{t.status_word}（回执编号 {rid}）"

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
    msg.set_content(_text_body(doc, t), subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(_html_body(doc, t, subject), subtype="html", charset="utf-8", cte="base64")
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
    return ReceiptMail(receipt_id=rid, sender=sender.addr_spec, recipients=recipients, message=msg, match=match)


# -- delivery -----------------------------------------------------------------------------
class MailRetry(Exception):
    """The send failed definitely (nothing was delivered) or is busy elsewhere: retry later."""


class DefiniteFailure(Exception):
    """The server answered, or never took the message: nothing was delivered."""

    def __init__(self, phase: str, detail: str, code: int | None = None, retry: bool = True) -> None:
        super().__init__(f"{phase}: {code or ''} {detail}".strip())
        self.phase, self.detail, self.code, self.retry = phase, detail, code, retry


class UnknownOutcome(Exception):
    """The connection failed after the DATA command: the message may have been queued."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ClaimLost(Exception):
    """Another attempt took the send over before DATA; this one sends nothing."""


@dataclass(frozen=True)
class SendResult:
    refused: dict[str, str] = field(default_factory=dict)  # recipients refused while others took it
    detail: str = ""


class Transport(Protocol):
    #: True if sending the same mail twice yields one copy (then ``data`` is never unknown)
    idempotent: bool

    def send(self, mail: ReceiptMail, before_data: Callable[[], bool]) -> SendResult:
        """Deliver ``mail``; call ``before_data`` right before the point of no return and
        give up (raise :class:`ClaimLost`) if it returns False."""

    def describe(self) -> str: ...


def _reply_text(resp: bytes | str) -> str:
    return (resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)).strip()[:300]


def _quietly(command: Callable[[], Any]) -> None:
    """A courtesy command (RSET) whose failure changes nothing."""
    try:
        command()
    except (smtplib.SMTPException, OSError):
        pass


class SmtpTransport:
    idempotent = False

    def __init__(self, target: SmtpTarget, timeout: float = SMTP_TIMEOUT,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.ssl_context = ssl_context

    def describe(self) -> str:
        return self.target.describe()

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def send(self, mail: ReceiptMail, before_data: Callable[[], bool]) -> SendResult:
        target, phase = self.target, "connect"
        smtp: smtplib.SMTP | None = None
        try:
            try:
                if target.tls:
                    smtp = smtplib.SMTP_SSL(target.host, target.port, timeout=self.timeout, context=self._context())
                else:
                    smtp = smtplib.SMTP(target.host, target.port, timeout=self.timeout)
                phase = "ehlo"
                smtp.ehlo_or_helo_if_needed()
                if target.starttls:
                    phase = "starttls"
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if target.username:
                    phase = "auth"
                    smtp.login(target.username, target.password or "")
                phase = "mail"
                code, resp = smtp.mail(mail.sender)
                if code != 250:
                    # a sender refused is our configuration: worth retrying once it is fixed
                    raise DefiniteFailure(phase, _reply_text(resp), code, retry=True)
                phase = "rcpt"
                refused: dict[str, tuple[int, str]] = {}
                for rcpt in mail.recipients:
                    code, resp = smtp.rcpt(rcpt)
                    if code not in (250, 251):
                        refused[rcpt] = (code, _reply_text(resp))
                if len(refused) == len(mail.recipients):
                    temporary = any(400 <= c < 500 for c, _ in refused.values())
                    detail = "; ".join(f"{r}: {c} {t}" for r, (c, t) in refused.items())
                    _quietly(smtp.rset)
                    raise DefiniteFailure(phase, detail, max(c for c, _ in refused.values()), retry=temporary)
                if not before_data():
                    _quietly(smtp.rset)
                    raise ClaimLost()
                phase = "data"
                code, resp = smtp.data(mail.as_bytes())
            except smtplib.SMTPDataError as exc:  # a reply to DATA or to the message: definite
                raise DefiniteFailure("data", _reply_text(exc.smtp_error), exc.smtp_code,
                                      retry=400 <= exc.smtp_code < 500) from None
            except smtplib.SMTPResponseException as exc:  # EHLO, STARTTLS, AUTH refused
                if phase == "data":
                    raise UnknownOutcome(f"unexpected reply after DATA: {exc.smtp_code}") from None
                raise DefiniteFailure(phase, _reply_text(exc.smtp_error), exc.smtp_code, retry=True) from None
            except (smtplib.SMTPException, OSError) as exc:
                if phase == "data":
                    raise UnknownOutcome(f"connection lost after the DATA command: {type(exc).__name__}: {exc}") from None
                raise DefiniteFailure(phase, f"{type(exc).__name__}: {exc}") from None
            if code == 250:
                return SendResult(refused={r: f"{c} {t}" for r, (c, t) in refused.items()}, detail=_reply_text(resp))
            if 400 <= code < 600:
                raise DefiniteFailure("data", _reply_text(resp), code, retry=code < 500)
            raise UnknownOutcome(f"unreadable reply to the message: {code} {_reply_text(resp)}")
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()


class OutboxTransport:
    """Mails as files: ``<folder>/<receipt id>.eml``, written atomically and only if absent."""

    idempotent = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return f"outbox {self.folder}"

    def path_of(self, receipt_id: str) -> Path:
        return self.folder / f"{receipt_id}.eml"

    def send(self, mail: ReceiptMail, before_data: Callable[[], bool]) -> SendResult:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not before_data():
            raise ClaimLost()
        path = self.path_of(mail.receipt_id)
        created = write_if_absent(path, mail.as_bytes())
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return SendResult(detail=f"{'written' if created else 'already there'}: {path}")


# -- the send record ----------------------------------------------------------------------
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local raw = redis.call('GET', KEYS[1])
local attempts, previous, last_error = 0, '', ''
if raw then
  local rec = cjson.decode(raw)
  local st = rec['state']
  if st == 'sent' or st == 'unknown' or st == 'rejected' then return {st, raw} end
  if st == 'data' and ARGV[4] ~= '1' then
    if rec['expires'] > now then return {'busy', raw} end
    rec['state'] = 'unknown'
    rec['error'] = 'the attempt stopped after the DATA command; delivery is unknown'
    rec['at'] = now
    local out = cjson.encode(rec)
    redis.call('SET', KEYS[1], out, 'EX', ARGV[3])
    return {'unknown_now', out}
  end
  if (st == 'claimed' or st == 'data') and rec['expires'] > now and rec['holder'] ~= ARGV[1] then
    return {'busy', raw}
  end
  attempts = tonumber(rec['attempts'] or 0)
  previous = st
  last_error = rec['error'] or ''
end
local out = cjson.encode({state = 'claimed', holder = ARGV[1], expires = now + tonumber(ARGV[2]), at = now,
                          attempts = attempts + 1, previous = previous, error = last_error})
redis.call('SET', KEYS[1], out, 'EX', ARGV[3])
return {'claimed', out}
"""

_ADVANCE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local raw = redis.call('GET', KEYS[1])
if not raw then return 'missing' end
local rec = cjson.decode(raw)
if rec['holder'] ~= ARGV[1] or not string.find(',' .. ARGV[2] .. ',', ',' .. rec['state'] .. ',', 1, true) then
  return rec['state']
end
rec['state'] = ARGV[3]
rec['at'] = now
for k, v in pairs(cjson.decode(ARGV[4])) do rec[k] = v end
if tonumber(ARGV[5]) > 0 then rec['expires'] = now + tonumber(ARGV[5]) end
redis.call('SET', KEYS[1], cjson.encode(rec), 'EX', ARGV[6])
return 'ok'
"""


class SendRecords:
    """One record per receipt id in Redis: who holds the send, and how it ended."""

    def __init__(self, client: redis.Redis, namespace: str = "pipeline", ttl: int = RECORD_TTL_SECONDS) -> None:
        self.client = client
        self.prefix = f"{namespace}:mail:"
        self.ttl = ttl
        self._claim = client.register_script(_CLAIM)
        self._advance = client.register_script(_ADVANCE)

    @classmethod
    def from_url(cls, url: str, namespace: str = "pipeline") -> "SendRecords":
        return cls(redis.Redis.from_url(url, decode_responses=True, health_check_interval=30), namespace)

    def key(self, receipt_id: str) -> str:
        return f"{self.prefix}{receipt_id}"

    def claim(self, receipt_id: str, holder: str, seconds: int = CLAIM_SECONDS,
              idempotent: bool = False) -> tuple[str, dict[str, Any]]:
        """('claimed' | 'busy' | 'unknown_now' | a final state, the record)."""
        state, raw = self._claim(keys=[self.key(receipt_id)],
                                 args=[holder, seconds, self.ttl, "1" if idempotent else "0"])
        return str(state), json.loads(raw)

    def advance(self, receipt_id: str, holder: str, from_states: tuple[str, ...], to_state: str, *,
                expires_in: int = 0, **extra: Any) -> bool:
        """Move the record held by ``holder`` from one of ``from_states`` to ``to_state``."""
        result = self._advance(keys=[self.key(receipt_id)],
                               args=[holder, ",".join(from_states), to_state,
                                     json.dumps(extra, ensure_ascii=False) if extra else "{}", expires_in, self.ttl])
        return result == "ok"

    def get(self, receipt_id: str) -> dict[str, Any] | None:
        raw = self.client.get(self.key(receipt_id))
        return json.loads(raw) if raw is not None else None


# -- the mailer ---------------------------------------------------------------------------
class Mailer:
    """Sends the receipt of one decision, exactly once (see the module docstring)."""

    def __init__(self, *, records: SendRecords, transport: Transport, registry: Registry, mail_from: str,
                 operator_email: str, read_document: Callable[[str], dict[str, Any]],
                 clock: Callable[[], datetime], claim_seconds: int = CLAIM_SECONDS,
                 on_result: Callable[[str], None] | None = None) -> None:
        self.records = records
        self.transport = transport
        self.registry = registry
        self.mail_from = mail_from
        self.operator_email = operator_email
        self.read_document = read_document
        self.clock = clock
        self.claim_seconds = claim_seconds
        #: told "sent" | "unknown" | "rejected" once per receipt (when the send record
        #: reaches that final state), and "retry" per failed attempt: the metrics
        self.on_result = on_result

    @classmethod
    def from_settings(cls, settings: Any, registry: Registry, read_document: Callable[[str], dict[str, Any]],
                      clock: Callable[[], datetime], on_result: Callable[[str], None] | None = None) -> "Mailer":
        assert settings.redis_url, "the mailer needs Redis (REDIS_URL)"
        transport: Transport
        if settings.smtp_url:
            transport = SmtpTransport(SmtpTarget.parse(settings.smtp_url))
        else:
            transport = OutboxTransport(settings.data_dir / "outbox")
        return cls(records=SendRecords.from_url(settings.redis_url, settings.namespace), transport=transport,
                   registry=registry, mail_from=settings.mail_from or OUTBOX_FROM,
                   operator_email=settings.operator_email or OUTBOX_OPERATOR,
                   read_document=read_document, clock=clock, on_result=on_result)

    def _tell(self, result: str) -> None:
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:  # counting must never change what happens to a mail
                pass

    def build(self, outcome: dict[str, Any]) -> ReceiptMail:
        document = self.read_document(outcome["location"])
        return build_receipt_mail(document, registry=self.registry, mail_from=self.mail_from,
                                  operator_email=self.operator_email, now=self.clock())

    def deliver(self, outcome: dict[str, Any]) -> str:
        """Send the receipt of ``outcome`` (what ``package_decided`` received) unless it
        was sent, or tried with an unknown or final result, before.

        Returns the state it ended in: "sent", "unknown", "rejected" or "lost" (another
        attempt took over). Raises :class:`MailRetry` on a definite failure (nothing was
        delivered; the actor retries) or while another attempt holds the send.
        """
        rid = outcome["receipt_id"]
        log = structlog.get_logger().bind(receipt_id=rid, transport=self.transport.describe())
        holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        state, record = self.records.claim(rid, holder, self.claim_seconds, idempotent=self.transport.idempotent)
        if state in FINAL_STATES:
            log.info("mail.already_done", state=state, attempts=record.get("attempts"))
            return state
        if state == "unknown_now":
            self._tell("unknown")
            log.error("mail.unknown", reason=record.get("error"), attempts=record.get("attempts"),
                      action="not resent: check the mail server's log for this receipt's Message-ID "
                             "and forward the receipt by hand if it never arrived")
            return "unknown"
        if state == "busy":
            log.info("mail.busy", holder=record.get("holder"), state=record.get("state"))
            raise MailRetry(f"the send of {rid} is held by another attempt")
        try:
            mail = self.build(outcome)
        except Exception as exc:
            self.records.advance(rid, holder, ("claimed",), "retry", error=f"building the mail: {exc}"[:500])
            raise
        log = log.bind(to=list(mail.recipients), message_id=mail.message_id,
                       matched_by=mail.match.by if mail.match else None)
        if mail.match is None:
            document_source = (outcome.get("source") or "")
            log.warning("mail.unmatched", source=document_source,
                        note="no institution in the registry matches: the receipt goes to the operator")

        def before_data() -> bool:
            return self.records.advance(rid, holder, ("claimed",), "data", expires_in=DATA_SECONDS)

        try:
            result = self.transport.send(mail, before_data)
        except ClaimLost:
            log.warning("mail.claim_lost", note="another attempt took the send over; this one sent nothing")
            return "lost"
        except DefiniteFailure as exc:
            if exc.retry:
                self.records.advance(rid, holder, ("claimed", "data"), "retry", error=str(exc)[:500])
                self._tell("retry")
                log.warning("mail.retry", phase=exc.phase, code=exc.code, error=exc.detail)
                raise MailRetry(f"sending {rid} failed ({exc}); nothing was delivered") from None
            self.records.advance(rid, holder, ("claimed", "data"), "rejected", error=str(exc)[:500])
            self._tell("rejected")
            log.error("mail.rejected", phase=exc.phase, code=exc.code, error=exc.detail,
                      action="the server refused this receipt for good: check the addresses in the registry "
                             "and forward the receipt by hand")
            return "rejected"
        except UnknownOutcome as exc:
            self.records.advance(rid, holder, ("data",), "unknown", error=exc.detail[:500])
            self._tell("unknown")
            log.error("mail.unknown", reason=exc.detail,
                      action="not resent: check the mail server's log for this Message-ID and forward "
                             "the receipt by hand if it never arrived")
            return "unknown"
        except Exception as exc:  # a fault of ours: decide by how far the attempt got
            if self.records.advance(rid, holder, ("claimed",), "retry", error=f"{type(exc).__name__}: {exc}"[:500]):
                raise
            if self.records.advance(rid, holder, ("data",), "unknown", error=f"{type(exc).__name__}: {exc}"[:500]):
                self._tell("unknown")
                log.error("mail.unknown", reason=f"{type(exc).__name__}: {exc}", action="not resent")
                return "unknown"
            raise
        self.records.advance(rid, holder, ("data", "unknown"), "sent", message_id=mail.message_id,
                             to=list(mail.recipients), error="")
        self._tell("sent")
        log.info("mail.sent", reply=result.detail, attempts=record.get("attempts"))
        if result.refused:
            log.error("mail.recipient_refused", refused=result.refused,
                      action="fix these addresses in the institution registry")
        return "sent"
