"""The paper forms and the requeue in a real browser (issue 18): Debian's Chromium driven by
Selenium against `pipeline web` on a data folder with real decisions and a real Redis (the
requeue sends its message to the queue). An inspector goes from the home page to a
package, follows the paper-forms link, reads the tables, reveals the full ID numbers with
a reason and sees them; an operator re-checks a rejected package through its form and
sees the confirmation. Screenshots: build/screenshots/ (paper-forms.png,
paper-forms-revealed.png, operator-requeued.png)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from pipeline.check.privacy import mask_id
from tests.support.browser import log_in, screenshot
from tests.support.integrity import FOLDER
from tests.support.paper import id_numbers, json_forms
from tests.support.websites import Site, web_process

pytestmark = pytest.mark.xdist_group("browser")  # one Chromium at a time on two cores

LINK = "纸质表格（培训方案、大纲、签到表、简历、承诺书）"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, redis_server) -> Site:
    return Site(tmp_path_factory.mktemp("paper-browser") / "var", redis_url=redis_server.url)


@pytest.fixture(scope="module")
def address(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with web_process(site.env, tmp_path_factory.mktemp("web") / "web.log") as served:
        yield served




def _heading(browser, starts: str) -> str:
    return WebDriverWait(browser, 60).until(
        lambda b: (h := b.find_element(By.TAG_NAME, "h1").text).startswith(starts) and h)


def test_an_inspector_reads_the_paper_forms_and_reveals_the_id_numbers(browser, address: str, site: Site):
    rid = site.receipts["accepted"]
    forms = json_forms(site.accepted.files)
    trainee = forms[f"{FOLDER}/签到表.json"]["sessions"][0]["trainees"][0]
    plan = forms["培训方案.json"]
    log_in(browser, address, "inspector")
    browser.find_element(By.LINK_TEXT, rid).click()  # from the home page's list
    assert _heading(browser, "回执编号") == f"回执编号 {rid}：已受理"
    browser.find_element(By.LINK_TEXT, LINK).click()
    assert _heading(browser, "纸质表格") == f"纸质表格：{plan['institution']['name']}"
    assert browser.current_url == address + f"packages/{rid}/forms"

    titles = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section.paper h3.paper-title")]
    assert titles == ["职业技能等级认定培训方案表", "诚信承诺书", "培训教师个人简历", "理论知识培训内容（大纲）",
                      "实际操作培训内容（大纲）", "培训学员签到表", "实际操作培训设备设施（操作类职业）"]
    plan_table = browser.find_element(By.CSS_SELECTOR, "section.paper-training_plan table.paper")
    rows = [r.text for r in plan_table.find_elements(By.TAG_NAME, "tr")]
    assert rows[0] == f"培训单位 {plan['institution']['name']}"
    assert f"培训起止日期 {plan['start_date']} 至 {plan['end_date']} 培训学时 {plan['total_hours']}" in rows
    first_sheet = browser.find_elements(By.CSS_SELECTOR, "section.paper-sign_in table.paper")[0]
    cells = [c.text for c in first_sheet.find_elements(By.CSS_SELECTOR, "tbody tr")[0].find_elements(By.TAG_NAME, "td")]
    assert cells == ["1", trainee["name"], mask_id(trainee["id_number"]), "√", ""]
    # laid out as tables with borders, not just in the markup
    cell = first_sheet.find_element(By.CSS_SELECTOR, "td.id")
    assert cell.value_of_css_property("border-top-style") == "solid" and cell.size["width"] > 100
    assert not any(n in browser.page_source for n in id_numbers(forms))
    screenshot(browser, "paper-forms")

    browser.find_element(By.CSS_SELECTOR, "form.reveal input[name=reason]").send_keys("核查学员是否重复参训")
    browser.find_element(By.CSS_SELECTOR, "form.reveal button[type=submit]").click()
    banner = WebDriverWait(browser, 60).until(lambda b: b.find_element(By.CSS_SELECTOR, "p.revealed")).text
    assert banner.startswith("已显示完整证件号码，本次查看已记入审计日志（原因：核查学员是否重复参训）")
    first_sheet = browser.find_elements(By.CSS_SELECTOR, "section.paper-sign_in table.paper")[0]
    assert first_sheet.find_element(By.CSS_SELECTOR, "tbody td.id").text == trainee["id_number"]
    assert all(n in browser.page_source for n in id_numbers(forms))
    assert browser.current_url == address + f"packages/{rid}/forms/reveal"  # a POST: no number in the URL
    assert not any(n in str(browser.get_cookies()) for n in id_numbers(forms))
    [entry] = [e for e in site.composition.web_accounts.audit_log(limit=1000, receipt_id=rid)
               if e["action"] == "reveal-id"]
    assert entry["user_name"] == "inspector" and entry["detail"] == {"reason": "核查学员是否重复参训",
                                                                    "count": len(id_numbers(forms))}
    screenshot(browser, "paper-forms-revealed")


def test_an_operator_requeues_a_rejected_package_from_its_page(browser, address: str, site: Site):
    rid = site.receipts["xinghuo"]
    log_in(browser, address, "operator")
    browser.find_element(By.LINK_TEXT, rid).click()
    assert _heading(browser, "回执编号") == f"回执编号 {rid}：未通过"
    form = browser.find_element(By.CSS_SELECTOR, "form.requeue")
    form.find_element(By.NAME, "reason").send_keys("照片规则已调整")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert _heading(browser, f"回执 {rid}") == f"回执 {rid}：已交给检查程序重新检查"
    text = browser.find_element(By.TAG_NAME, "main").text
    new_rid = re.search(r"新的回执编号：(R[0-9]{8}-[0-9A-Z]{8})", text).group(1)
    assert new_rid != rid and "原因：照片规则已调整（已记入审计日志）" in text
    [entry] = [e for e in site.composition.web_accounts.audit_log(limit=1000, receipt_id=rid)
               if e["action"] == "requeue"]
    assert entry["user_name"] == "operator" and entry["detail"]["new_receipt_id"] == new_rid
    screenshot(browser, "operator-requeued")
    browser.find_element(By.LINK_TEXT, "首页").click()  # the new claim waits there for a worker (none runs here)
    WebDriverWait(browser, 30).until(lambda b: "正在检查" in b.find_element(By.TAG_NAME, "main").text)
