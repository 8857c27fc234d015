"""The web application assembled: routes, middleware, templates and the error pages.
:func:`build_app` is called by the composition root (pipeline/app/web.py) with the
library objects the pages read; nothing here reads settings or builds services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from pipeline.web import pages, uploads
from pipeline.web.access import LoginRequired, NotFound
from pipeline.web.security import LoginThrottle, SecurityHeaders
from pipeline.web.services import WebConfig, WebServices

HERE = Path(__file__).parent

#: the session cookie's name ("__Host-" behind HTTPS: the browser then refuses it from a
#: subdomain or without Secure)
SESSION_COOKIE, SECURE_SESSION_COOKIE = "pipeline_session", "__Host-pipeline_session"


def build_app(services: WebServices, config: WebConfig) -> Starlette:
    from pipeline.web import paper  # the paper forms and the inspector's reveal (pipeline/web/paper.py)

    routes = [
        Route("/packages/{receipt_id}/forms", paper.paper_forms, methods=["GET"]),
        Route("/packages/{receipt_id}/forms/reveal", paper.reveal_ids, methods=["POST"]),
        Route("/", pages.home, methods=["GET"]),
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/rules", pages.rules_page, methods=["GET"]),
        Route("/downloads", pages.downloads_page, methods=["GET"]),
        Route("/downloads/templates.zip", pages.download_templates, methods=["GET"]),
        Route("/downloads/example.zip", pages.download_example, methods=["GET"]),
        Route("/dashboard", pages.dashboard, methods=["GET"]),
        Route("/search", pages.search_page, methods=["GET"]),
        Route("/search/person", pages.search_person, methods=["POST"]),
        Route("/packages/{receipt_id}", pages.package_page, methods=["GET"]),
        Route("/packages/{receipt_id}/document.json", pages.package_document, methods=["GET"]),
        Route("/packages/{receipt_id}/requeue", pages.requeue, methods=["POST"]),
        Route("/packages/{receipt_id}/media/{path:path}", pages.media_file, methods=["GET"]),
        Route("/packages/{receipt_id}/thumbs/{path:path}", pages.thumbnail, methods=["GET"]),
        Route("/upload", uploads.upload_page, methods=["GET"]),
        Route("/uploads", uploads.start, methods=["POST"]),
        Route("/uploads/{upload_id}", uploads.progress, methods=["GET"]),
        Route("/uploads/{upload_id}", uploads.put_chunk, methods=["PUT"]),
        Route("/uploads/{upload_id}/parts/{number}", uploads.part_url, methods=["GET"]),
        Route("/uploads/{upload_id}/finish", uploads.finish, methods=["POST"]),
        Route("/self-checks/{check_id}", uploads.self_check_page, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders, https_only=config.https_only, upload_origin=config.upload_origin),
        Middleware(SessionMiddleware, secret_key=config.secret, max_age=config.session_seconds,
                   same_site="strict", https_only=config.https_only,
                   session_cookie=SECURE_SESSION_COOKIE if config.https_only else SESSION_COOKIE),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={
        LoginRequired: _to_login, NotFound: _not_found, HTTPException: _http_error})
    app.state.services = services
    app.state.config = config
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.state.throttle = LoginThrottle(config.login_failures, config.login_window_seconds)

    def audit(request: Request, user_name: str, role: str, action: str, receipt_id: str | None,
              detail: dict[str, Any] | None) -> None:
        services.accounts.audit(services.now(), user_name, role, action, receipt_id, detail)

    app.state.audit = audit
    return app


async def _to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status_code=303)


async def _not_found(request: Request, exc: Exception) -> Response:
    return pages.render(request, "error.html", status_code=404, title="找不到这个页面",
                        text="没有这个回执，或者您的账号无权查看。请从“我的上报”列表进入。")


async def _http_error(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 500)
    if code == 404:
        return await _not_found(request, exc)
    if code == 403:
        return pages.render(request, "error.html", status_code=403, title="页面已过期",
                            text="这个表单已经过期（或不是从本系统的页面提交的）。请返回，刷新页面后重新提交。")
    if code == 405:
        return pages.render(request, "error.html", status_code=405, title="不支持的操作", text="请从页面上的链接和按钮操作。")
    return pages.render(request, "error.html", status_code=code, title="出错了", text="请稍后再试。")
