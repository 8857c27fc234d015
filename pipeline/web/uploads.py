"""A clerk's uploads from the browser (issue 18): the 上报与自查 page, the chunked upload
protocol its script speaks (static/upload.js), and the self-check's page.

The protocol, every step answered in JSON, every step of the login's own account only
(another account's upload id is answered as one that does not exist):

- ``POST /uploads`` (form: name, size, purpose = submit | self-check; CSRF) → the upload's
  id, ``mode`` (``chunks``: PUT the bytes here; ``parts``: PUT them to the S3 inbox with
  presigned URLs), the chunk size and where to begin;
- ``GET /uploads/{id}`` → how many bytes the server holds (the browser resumes there);
- ``PUT /uploads/{id}?offset=N`` (header ``X-CSRF-Token``) → one chunk appended at N;
- ``GET /uploads/{id}/parts/{n}`` → the presigned URL of part n (``parts`` mode);
- ``POST /uploads/{id}/finish`` (CSRF) → landed: a submitted ZIP is now in the account's
  inbox folder (the home page shows it as 等待检查), a self-check is queued for the workers;
  ``next`` says which page to show.

The bytes go to disk as they arrive (pipeline/intake/browser_uploads.py); nothing of an
upload is held in memory."""

from __future__ import annotations

import hmac
from typing import Any

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from pipeline.intake.browser_uploads import (CHUNK_BYTES, SELF_CHECK, SUBMIT, StagedUpload, UploadRefused)
from pipeline.web.access import NotFound, WebUser, require
from pipeline.web.security import CSRF_FIELD, checked_form

#: the header a script sends the session's CSRF token in (a PUT has no form)
CSRF_HEADER = "x-csrf-token"


def _state(request: Request) -> Any:
    return request.app.state


def _clerk(request: Request) -> WebUser:
    """The institution login asking; staff have no inbox of their own (404, as for a page
    they do not have)."""
    state = _state(request)
    user = require(request, state.services, state.config)
    if user.staff or not user.account:
        raise NotFound()
    return user


def _checked_header(request: Request) -> None:
    sent = request.headers.get(CSRF_HEADER)
    expected = request.session.get(CSRF_FIELD)
    if not sent or not expected or not hmac.compare_digest(sent, str(expected)):
        raise HTTPException(403, "CSRF")


def _refused(refused: UploadRefused) -> JSONResponse:
    return JSONResponse({"error": refused.message, "offset": refused.offset}, status_code=refused.status)


def _upload(request: Request, user: WebUser) -> StagedUpload:
    upload = _state(request).services.uploads.get(request.path_params["upload_id"], user.account)
    if upload is None:
        raise NotFound()
    return upload


def _direct(upload: StagedUpload) -> bool:
    """Whether the bytes of ``upload`` come through the web (else straight to the S3 inbox)."""
    return not upload.multipart_id


async def upload_page(request: Request) -> Response:
    from pipeline.web.pages import render

    user = _clerk(request)
    return render(request, "upload.html", account=user.account, chunk=CHUNK_BYTES,
                  max_bytes=_state(request).services.uploads.max_bytes)


async def start(request: Request) -> Response:
    user = _clerk(request)
    form = await checked_form(request)
    services = _state(request).services
    purpose = str(form.get("purpose") or "")
    try:
        size = int(str(form.get("size") or "0"))
    except ValueError:
        size = 0
    presigned = services.presigned if purpose == SUBMIT else None
    try:
        upload = await run_in_threadpool(
            services.uploads.start, user.account, str(form.get("name") or ""), size, purpose,
            multipart=presigned.opener(user.account) if presigned is not None else None)
    except UploadRefused as refused:
        return _refused(refused)
    structlog.get_logger().info("web.upload_started", account=user.account, name=upload.name, size=upload.size,
                                purpose=upload.purpose, upload=upload.id, direct=not upload.multipart_id)
    return JSONResponse({"id": upload.id, "mode": "chunks" if _direct(upload) else "parts",
                         "chunk": CHUNK_BYTES, "offset": 0, "name": upload.name})


async def progress(request: Request) -> Response:
    user = _clerk(request)
    upload = _upload(request, user)
    services = _state(request).services
    if _direct(upload):
        return JSONResponse({"offset": services.uploads.received(upload), "size": upload.size})
    parts = await run_in_threadpool(services.presigned.parts, upload)
    return JSONResponse({"parts": [p.part_number for p in parts], "offset": sum(int(p.size or 0) for p in parts),
                         "size": upload.size})


async def put_chunk(request: Request) -> Response:
    user = _clerk(request)
    _checked_header(request)
    upload = _upload(request, user)
    uploads = _state(request).services.uploads
    if not _direct(upload):
        raise NotFound()
    try:
        offset = int(request.query_params.get("offset", ""))
    except ValueError:
        return JSONResponse({"error": "缺少续传位置。", "offset": uploads.received(upload)}, status_code=400)
    try:
        with uploads.writer(upload, offset) as writer:
            try:
                async for piece in request.stream():
                    writer.write(piece)
            except ClientDisconnect:  # the line broke: what arrived stays, the browser resumes
                return Response(status_code=400)
    except UploadRefused as refused:
        return _refused(refused)
    return JSONResponse({"offset": writer.end, "size": upload.size})


async def part_url(request: Request) -> Response:
    user = _clerk(request)
    upload = _upload(request, user)
    presigned = _state(request).services.presigned
    if _direct(upload) or presigned is None:
        raise NotFound()
    try:
        number = int(request.path_params["number"])
        return JSONResponse({"url": presigned.part_url(upload, number)})
    except (ValueError, UploadRefused):
        raise NotFound() from None


async def finish(request: Request) -> Response:
    user = _clerk(request)
    await checked_form(request)
    upload = _upload(request, user)
    services = _state(request).services
    log = structlog.get_logger().bind(account=user.account, name=upload.name, upload=upload.id)
    try:
        if upload.purpose == SELF_CHECK:
            path = await run_in_threadpool(services.uploads.complete, upload)
            check_id = await run_in_threadpool(services.self_checks.create, path, user.account, upload.name)
            services.uploads.discard(upload)
            asked = _ask_self_check(services, check_id)
            log.info("web.self_check_asked", self_check=check_id, size=upload.size, queued=asked)
            return JSONResponse({"next": f"/self-checks/{check_id}"})
        if upload.multipart_id:
            location = await run_in_threadpool(services.presigned.complete, upload)
            services.uploads.discard(upload)
        else:
            location = await run_in_threadpool(services.uploads.land_in_inbox, upload)
    except UploadRefused as refused:
        return _refused(refused)
    log.info("web.upload_landed", location=location, size=upload.size)
    return JSONResponse({"next": "/?uploaded=1"})


def _ask_self_check(services: Any, check_id: str) -> bool:
    """Queue the self-check; False when the queue cannot be reached now (the self-check's
    page asks again: :meth:`SelfChecks.due_again`)."""
    try:
        services.send_self_check(check_id)
    except Exception as exc:  # Redis away: the page's next look asks again
        structlog.get_logger().warning("web.self_check_not_queued", self_check=check_id, error=str(exc)[:200])
        return False
    return True


async def self_check_page(request: Request) -> Response:
    from pipeline.check.report import numbered_problems
    from pipeline.web.pages import render

    user = _clerk(request)
    services = _state(request).services
    found = services.self_checks.get(request.path_params["check_id"])
    if found is None or found["account"] != user.account:
        raise NotFound()
    if services.self_checks.due_again(found) and _ask_self_check(services, found["id"]):
        services.self_checks.asked_again(found["id"])
    document = found["document"]
    return render(request, "self_check.html", check=found, document=document,
                  problems=list(numbered_problems(document)) if document else [],
                  refresh=document is None)
