"""The pages: log-in and log-out, the home page of each role, a package's page and its
document as JSON. Each handler asks pipeline/web/access.py who is asking and what they may
see; the templates are in pipeline/web/templates."""

from __future__ import annotations

import json
import urllib.parse
from datetime import date, datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from pipeline.check.catalogue import format_size
from pipeline.check.documents import RECEIPT_ID
from pipeline.check.contract import OFFLINE
from pipeline.check.report import STATUS_LABEL, numbered_problems
from pipeline.kit.example import DEFAULT_INSTITUTION, DEFAULT_TRAININGS, readme_text
from pipeline.web.downloads import EXAMPLE_NAME, TEMPLATES_NAME, example_zip, templates_zip
from pipeline.web.media import byte_range, read_span
from pipeline.web.access import NotFound, WebUser, logged_in, may_see, require, start_session
from pipeline.web.passwords import verify_password
from pipeline.web.security import checked_form, csrf_token


#: the newest decisions a home page lists
HOME_ROWS = 200


def _state(request: Request) -> Any:
    return request.app.state


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    state = _state(request)
    user = logged_in(request, state.services, state.config)
    return state.templates.TemplateResponse(request, template, {
        "user": user, "csrf_token": csrf_token(request), "status_label": STATUS_LABEL,
        "format_size": format_size, **context}, status_code=status_code)


async def login_page(request: Request) -> Response:
    state = _state(request)
    if logged_in(request, state.services, state.config):
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html")


async def login(request: Request) -> Response:
    state = _state(request)
    form = await checked_form(request)
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    client = request.client.host if request.client else "?"
    name_key, client_key = f"name:{name}", f"client:{client}"
    wait = state.throttle.wait_seconds(name_key, client_key)
    if wait > 0:
        return render(request, "login.html", status_code=429, name=name,
                      problem=f"登录失败次数过多，请 {int(wait // 60) + 1} 分钟后再试。")
    row = state.services.accounts.get(name) if name else None
    if row is None or row["disabled_at"] or not verify_password(row["password_hash"], password):
        state.throttle.failed(name_key, client_key)
        state.audit(request, name or "?", row["role"] if row else "?", "login-failed", None, {"client": client})
        return render(request, "login.html", status_code=401, name=name, problem="用户名或密码不对，请重新输入。")
    state.throttle.succeeded(name_key)
    start_session(request, row)
    state.audit(request, row["name"], row["role"], "login", None, {"client": client})
    return RedirectResponse("/", status_code=303)


async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def home(request: Request) -> Response:
    state = _state(request)
    user = require(request, state.services, state.config)
    account = None if user.staff else user.account
    entries = state.services.catalogue.recent(HOME_ROWS, account=account)
    undecided = state.services.undecided(account)
    return render(request, "home_staff.html" if user.staff else "home_institution.html", entries=entries,
                  undecided=undecided, refresh=bool(undecided))


def visible_package(request: Request) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(user, catalogue entry, receipt) of the package the URL names, if the user may see
    it; NotFound for one that does not exist and one of another institution alike."""
    state = _state(request)
    user = require(request, state.services, state.config)
    receipt_id = request.path_params["receipt_id"]
    if not RECEIPT_ID.match(receipt_id):
        raise NotFound()
    entry = state.services.catalogue.get(receipt_id)
    if entry is None or not may_see(user, entry):
        raise NotFound()
    found = state.services.receipt(receipt_id)
    if found is None:
        raise NotFound()
    return user, entry, found


def _requeueable(user: WebUser, entry: dict[str, Any], superseded_by: str | None) -> bool:
    """Whether ``user`` may re-check this decision now: an operator, a rejected decision
    not re-checked already (``pipeline requeue``'s own rule: only rejected ones)."""
    return user.role == "operator" and entry["status"] == "rejected" and not superseded_by


async def package_page(request: Request) -> Response:
    user, entry, found = visible_package(request)
    document = found["document"]
    if user.staff:
        _state(request).audit(request, user.name, user.role, "view-package", entry["receipt_id"], None)
    members = await run_in_threadpool(_state(request).services.media.members, entry["receipt_id"])
    folders: dict[str, list[Any]] = {}
    for member in members:
        folders.setdefault(member.folder, []).append(member)
    # the files found again in another institution's package, side by side: staff only (an
    # institution never sees another's photo)
    reused = await run_in_threadpool(_state(request).services.media_pairs, entry["receipt_id"]) if user.staff else []
    mail = await run_in_threadpool(_state(request).services.mail, entry["receipt_id"], document)
    return render(request, "package.html", entry=entry, document=document, superseded_by=found["superseded_by"],
                  problems=list(numbered_problems(document)), media_folders=folders, reused=reused, mail=mail,
                  mail_state=MAIL_STATE,
                  is_photo=_is_photo, requeueable=_requeueable(user, entry, found["superseded_by"]))


#: a receipt mail's state (pipeline/notify/records.py), in the clerk's words
MAIL_STATE = {"sent": "已发送", "unknown": "已交给邮件服务器，是否送达不明（不会重发）",
              "rejected": "被邮件服务器拒收", "data": "正在发送", "retry": "发送失败，正在重试"}


def _is_photo(path: str) -> bool:
    return path.lower().endswith((".jpg", ".jpeg", ".png"))


async def _package_media(request: Request, what: str) -> Any:
    """``PackageMedia.<what>`` (span or thumbnail) of the member the URL names, of a package
    the user may see; NotFound when there is none."""
    _user, entry, _found = visible_package(request)
    found = await run_in_threadpool(getattr(_state(request).services.media, what), entry["receipt_id"],
                                    request.path_params["path"])
    if found is None:
        raise NotFound()
    return found


async def media_file(request: Request) -> Response:
    """A photo or video of the package, whole or the byte range asked (a video seeks)."""
    span = await _package_media(request, "span")
    asked = byte_range(request.headers.get("range"), span.length)
    headers = {"accept-ranges": "bytes"}
    if asked == "unsatisfiable":
        return Response(status_code=416, headers={**headers, "content-range": f"bytes */{span.length}"})
    first, last = asked if isinstance(asked, tuple) else (0, span.length - 1)
    headers["content-length"] = str(last - first + 1)
    status = 200
    if isinstance(asked, tuple):
        status = 206
        headers["content-range"] = f"bytes {first}-{last}/{span.length}"
    body = read_span(span, first, last) if span.length else iter(())
    return StreamingResponse(body, status_code=status, media_type=span.content_type, headers=headers)


async def thumbnail(request: Request) -> Response:
    return FileResponse(await _package_media(request, "thumbnail"), media_type="image/jpeg")


#: the longest reason a requeue keeps
REASON_MAX = 500


async def requeue(request: Request) -> Response:
    """An operator re-checks a rejected decision under the policy in force (a new decision
    naming the old one, as ``pipeline requeue``), giving a reason; recorded in the audit
    trail. An inspector may not (403); an institution does not see the route (404)."""
    from pipeline.ops.queries import OpsError

    state = _state(request)
    user, entry, found = visible_package(request)
    if not user.staff:
        raise NotFound()
    form = await checked_form(request)
    if user.role != "operator":
        return render(request, "error.html", status_code=403, title="无权操作", text="只有运维人员可以重新检查上报。")
    reason = " ".join(str(form.get("reason") or "").split())[:REASON_MAX]
    rid = entry["receipt_id"]
    if not _requeueable(user, entry, found["superseded_by"]):
        return render(request, "error.html", status_code=409, title="不能重新检查",
                      text="只有未通过、且还没有重新检查过的上报可以重新检查。")
    if not reason:
        return render(request, "error.html", status_code=400, title="请填写原因",
                      text="重新检查需要写明原因（例如：规则已调整），原因会记入审计日志。")
    try:
        result = await run_in_threadpool(state.services.requeue, rid)
    except OpsError:
        return render(request, "error.html", status_code=503, title="暂时不能重新检查",
                      text="任务队列（Redis）现在连不上，请稍后再试，或请管理员查看 pipeline status。")
    state.audit(request, user.name, user.role, "requeue", rid,
                {"reason": reason, "action": result.get("action"), "new_receipt_id": result.get("new_receipt_id")})
    return render(request, "requeued.html", entry=entry, result=result, reason=reason)


async def package_document(request: Request) -> Response:
    user, entry, found = visible_package(request)
    if user.staff:
        _state(request).audit(request, user.name, user.role, "view-document", entry["receipt_id"], None)
    body = json.dumps(found["document"], ensure_ascii=False, indent=2)
    return Response(body, media_type="application/json; charset=utf-8")


# -- search (operators and inspectors) ---------------------------------------------------------

#: the most entries a search lists (narrow it with more conditions)
SEARCH_ROWS = 500


def _staff(request: Request) -> WebUser:
    """The logged-in operator or inspector; an institution's login gets "not found" (the
    page is not theirs to know of)."""
    state = _state(request)
    user = require(request, state.services, state.config)
    if not user.staff:
        raise NotFound()
    return user


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


async def search_page(request: Request) -> Response:
    """Decisions by receipt id fragment, institution, package, occupation/level, status and
    date range (GET: the conditions are in the URL, shareable; no personal number is)."""
    _staff(request)
    state = _state(request)
    q = request.query_params
    asked = {k: (q.get(k) or "").strip() for k in ("text", "training", "status", "code", "from", "to")}
    problems = [f"日期“{asked[k]}”应写成 2026-11-20 的样子。" for k in ("from", "to") if asked[k] and not _day(asked[k])]
    entries = None
    if any(asked.values()) and not problems:
        zone = state.services.zone
        since, until = _day(asked["from"]), _day(asked["to"])
        entries = state.services.catalogue.filtered(
            text=asked["text"], training=asked["training"], status=asked["status"] or None, code=asked["code"],
            since_ts=datetime.combine(since, time(), zone).timestamp() if since else None,
            until_ts=datetime.combine(until + timedelta(days=1), time(), zone).timestamp() if until else None,
            limit=SEARCH_ROWS)
    return render(request, "search.html", asked=asked, problems=problems, entries=entries, limit=SEARCH_ROWS)


async def search_person(request: Request) -> Response:
    """A person's trainings by ID number (POST: the number never appears in a URL, a
    browser's history or a proxy's log); the search is audited with the masked number."""
    user = _staff(request)
    state = _state(request)
    form = await checked_form(request)
    number = str(form.get("id_number") or "")
    found = state.services.trace(number)
    state.audit(request, user.name, user.role, "search-person", None,
                {"masked": found.get("masked"), "found": found["person"] is not None})
    return render(request, "search.html", asked={}, problems=[], entries=None, limit=SEARCH_ROWS, traced=found)


# -- downloads ---------------------------------------------------------------------------------

def _attachment(body: bytes, filename: str) -> Response:
    """A ZIP to save under ``filename`` (RFC 6266: the UTF-8 name, and an ASCII fallback)."""
    quoted = urllib.parse.quote(filename)
    return Response(body, media_type="application/zip", headers={
        "content-disposition": f"attachment; filename=\"download.zip\"; filename*=UTF-8''{quoted}"})


async def downloads_page(request: Request) -> Response:
    state = _state(request)
    require(request, state.services, state.config)
    return render(request, "downloads.html", templates_name=TEMPLATES_NAME, example_name=EXAMPLE_NAME)


async def download_templates(request: Request) -> Response:
    state = _state(request)
    require(request, state.services, state.config)
    return _attachment(await run_in_threadpool(templates_zip), TEMPLATES_NAME)


async def download_example(request: Request) -> Response:
    """The example, made for the login's institution (its registry name) as of today."""
    state = _state(request)
    user = require(request, state.services, state.config)
    institution = (state.services.institution_of(user.account) if user.account else None) or DEFAULT_INSTITUTION
    today = state.services.now().date()
    return _attachment(await run_in_threadpool(example_zip, institution, today), EXAMPLE_NAME)


# -- the rules ---------------------------------------------------------------------------------

async def rules_page(request: Request) -> Response:
    """The package format as the checks in force apply it: the guide of the example, made
    from the contract's names and this deployment's policy (counts, sizes, durations), and
    the archive's own limits. The page and the checks read the same values."""
    state = _state(request)
    user = require(request, state.services, state.config)
    policy = state.services.policy
    institution = (state.services.institution_of(user.account) if user.account else None) or DEFAULT_INSTITUTION
    root = f"{institution}{state.services.now():%Y%m%d}"
    guide = readme_text(root, DEFAULT_TRAININGS, [OFFLINE], [OFFLINE], workbook=True, rules=policy.media)
    parts = guide.split("\n\n三、打包", 1)[0]  # 一 and 二; packing and checking are said on the page
    return render(request, "rules.html", guide=parts, zip=policy.zip, policy=policy)


# -- the dashboard (operators and inspectors) --------------------------------------------------

#: the days the dashboard's charts cover
DASHBOARD_DAYS = 30


async def dashboard(request: Request) -> Response:
    """The pipeline now (queues, inbox, in progress, workers, mails) and its last 30 days
    (decisions per day by result, time from receipt to decision, the most frequent errors)."""
    from pipeline.web import charts

    _staff(request)
    services = _state(request).services
    now = services.now()
    day_list = charts.days(now.date(), DASHBOARD_DAYS)
    since = datetime.combine(day_list[0], time(), services.zone).timestamp()
    timeline = await run_in_threadpool(services.catalogue.timeline, since)
    status = await run_in_threadpool(services.status)
    counters = await run_in_threadpool(services.counters)
    mails = {result: int(counters.get(f"mail:{result}", 0)) for result in ("sent", "failed", "unknown")}
    mails["retries"] = int(counters.get("mail_retries", 0))
    queues = status["queues"]  # per queue: queued, delayed, dead; None with Redis unreachable
    tasks = None if queues is None else {"waiting": sum(q["queued"] + q["delayed"] for q in queues.values()),
                                         "dead": sum(q["dead"] for q in queues.values())}
    return render(request, "dashboard.html", status=status, mails=mails, tasks=tasks, days=DASHBOARD_DAYS,
                  per_day=charts.decisions_per_day(timeline, day_list, services.zone, STATUS_LABEL),
                  waiting=charts.waiting_per_day(timeline, day_list, services.zone),
                  errors=charts.frequent_errors(timeline), colours=charts.STATUS_COLOURS)
