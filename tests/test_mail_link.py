"""The receipt mail links to the package's web page (issue 18): PIPELINE_WEB_PUBLIC_URL set,
every receipt (accepted, rejected, duplicate) carries one line "在网上查看本回执：<url>" in
its text and its HTML; unset, none does. Sent through the composition the settings build
(the mailer `pipeline worker` uses) to a real SMTP server (aiosmtpd), with the real Redis."""

from __future__ import annotations

import email
import re
from datetime import date, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Iterator

import pytest

from pipeline.app.compose import Composition
from pipeline.app.settings import SettingsError, load_settings
from pipeline.check.catalogue import problem
from pipeline.check.documents import (Findings, Source, build_document, document_filename, dumps, local_zone,
                                      new_receipt_id, schema_errors)
from pipeline.check.files import write_atomic
from tests.support.smtpserver import RecordingHandler, SmtpServer

ZONE = local_zone(8)
NOW = datetime(2026, 11, 27, 16, 20, 3, tzinfo=ZONE)
XINGHUO = "新城区星火职业培训学校"
SHA = "ab" * 32
REGISTRY = f"""[[institution]]
name = "{XINGHUO}"
email = ["office@xinghuo.example"]
accounts = ["xinghuo"]
"""
LABEL = "在网上查看本回执："


def make_document(problems: list | None = None, *, duplicate_of: str | None = None) -> dict[str, Any]:
    findings = Findings(package_name="星火20261120.zip", package_size=1234, package_sha256=SHA,
                        policy_sha256="cd" * 32, institution=XINGHUO, report_date=date(2026, 11, 20),
                        trainings=[{"occupation": "育婴师", "level": "初级", "folder": "育婴师初级", "trainees": 20}],
                        manifest=[], problems=list(problems or []))
    document = build_document(findings, receipt_id=new_receipt_id(NOW),
                              source=Source("fs", "inbox/xinghuo/星火20261120.zip", "xinghuo"),
                              received_at=NOW, decided_at=NOW, duplicate_of=duplicate_of)
    assert schema_errors(document) == []
    return document


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with SmtpServer(RecordingHandler()) as s:
        yield s


def send_three(tmp_path: Path, redis_url: str, server: SmtpServer, **env: str) -> list[tuple[str, str, EmailMessage]]:
    """An accepted, a rejected and a duplicate decision stored and mailed by the mailer the
    settings compose: (status, receipt id, the message the SMTP server received)."""
    (tmp_path / "institutions.toml").write_text(REGISTRY, encoding="utf-8")
    settings = load_settings(env={"PIPELINE_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": redis_url,
                                  "SMTP_URL": server.url, "MAIL_FROM": "培训上报回执 <receipts@training.example>",
                                  "OPERATOR_EMAIL": "ops@training.example",
                                  "PIPELINE_INSTITUTIONS": str(tmp_path / "institutions.toml"), **env})
    composition = Composition(settings)
    store = composition.store
    store.ensure_layout()
    accepted = make_document()
    documents = [accepted,
                 make_document([problem("MEDIA_COUNT", f"{XINGHUO}20261120/育婴师初级/理论", folder="育婴师初级/理论",
                                        kind="照片", expected=5, found=4, unit="张")]),
                 make_document(duplicate_of=accepted["receipt_id"])]
    assert [d["status"] for d in documents] == ["accepted", "rejected", "duplicate"]
    for document in documents:
        folder = store.decision_dir(document)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / document_filename(document), dumps(document))
        outcome = {"receipt_id": document["receipt_id"], "status": document["status"],
                   "location": str(folder.relative_to(store.data_dir))}
        assert composition.mailer.deliver(outcome) == "sent"
    received = [email.message_from_bytes(m.content, policy=policy.default) for m in server.messages]
    assert [m["X-Receipt-Id"] for m in received] == [d["receipt_id"] for d in documents]
    return [(d["status"], d["receipt_id"], m) for d, m in zip(documents, received)]


def bodies(msg: EmailMessage) -> tuple[str, str]:
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def test_every_receipt_links_to_its_page_when_the_web_address_is_set(tmp_path, redis_client, redis_server, server):
    # a trailing slash in the setting is not doubled in the link
    sent = send_three(tmp_path, redis_server.url, server,
                      PIPELINE_WEB_PUBLIC_URL="https://report.example.gov.cn/")
    for status, rid, msg in sent:
        link = f"https://report.example.gov.cn/packages/{rid}"
        text, html_body = bodies(msg)
        lines = [line for line in text.splitlines() if LABEL in line]
        assert lines == [f"{LABEL}{link}"], (status, lines)
        assert text.count("/packages/") == 1, status
        # the HTML: one clickable link, the address shown as it is
        assert re.findall(r'href="([^"]*)"', html_body) == [link], status
        assert f">{link}</a>" in html_body and html_body.count(LABEL) == 1, status
        # it comes after the lead sentence, before the details
        assert text.index("您好！") < text.index(LABEL) < text.index("—— 回执详情 ——"), status


def test_no_link_without_the_web_address(tmp_path, redis_client, redis_server, server):
    sent = send_three(tmp_path, redis_server.url, server)
    assert len(sent) == 3
    for status, rid, msg in sent:
        text, html_body = bodies(msg)
        for body in (text, html_body):
            assert LABEL not in body and "/packages/" not in body and "href=" not in body, status
        assert rid in text


def test_a_web_address_under_a_path_and_a_port(tmp_path, redis_client, redis_server, server):
    sent = send_three(tmp_path, redis_server.url, server,
                      PIPELINE_WEB_PUBLIC_URL="http://10.0.0.5:8443/report")
    for _, rid, msg in sent:
        assert f"{LABEL}http://10.0.0.5:8443/report/packages/{rid}" in bodies(msg)[0]


@pytest.mark.parametrize("value, expected", [
    ("", ""), ("https://report.example.gov.cn", "https://report.example.gov.cn"),
    ("https://report.example.gov.cn///", "https://report.example.gov.cn"),
    ("  http://127.0.0.1:8000/ ", "http://127.0.0.1:8000"),
])
def test_the_web_address_setting_is_kept_without_its_trailing_slash(value, expected):
    assert load_settings(env={"PIPELINE_WEB_PUBLIC_URL": value}).web_public_url == expected


@pytest.mark.parametrize("value", [
    "report.example.gov.cn", "ftp://report.example.gov.cn", "https://", "https:///packages",
    "https://user:pw@report.example.gov.cn", "https://report.example.gov.cn/?a=1",
    "https://report.example.gov.cn/#top", "https://report.example.gov.cn:99999",
    "https://report.example.gov.cn/a b", "javascript:alert(1)",
])
def test_a_web_address_that_is_no_http_url_is_refused(value):
    with pytest.raises(SettingsError, match="PIPELINE_WEB_PUBLIC_URL"):
        load_settings(env={"PIPELINE_WEB_PUBLIC_URL": value})
