"""What the web application is given by the composition root (pipeline/app/compose.py): the
few library objects its pages read, and its own configuration. It builds none of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Callable

from pipeline.catalogue.decisions import DecisionCatalogue
from pipeline.catalogue.web_accounts import WebAccounts
from pipeline.check.policy import Policy
from pipeline.intake.browser_uploads import BrowserUploads, PresignedUploads
from pipeline.intake.self_checks import SelfChecks
from pipeline.web.media import PackageMedia


@dataclass(frozen=True)
class WebConfig:
    #: signs the session cookies (at least 32 characters; the settings make sure)
    secret: str = field(repr=False)
    #: cookies only over HTTPS (behind the TLS reverse proxy)
    https_only: bool = False
    #: a login lasts this long without a new log-in
    session_seconds: int = 12 * 3600
    #: failed log-ins of one name (or from one address) before it must wait
    login_failures: int = 5
    #: the window those failures are counted in, and the wait
    login_window_seconds: int = 15 * 60
    #: the S3 inbox's origin (scheme://host:port) the browser uploads parts to; None: none
    upload_origin: str | None = None


@dataclass
class WebServices:
    """The library objects the pages read (each built by the composition root)."""

    accounts: WebAccounts
    catalogue: DecisionCatalogue
    #: the document of a receipt id with where it lies (``Ops.receipt``), personal numbers masked
    receipt: Callable[[str], dict[str, Any] | None]
    #: the uploads of an account (None: all) not decided yet (``Ops.undecided``)
    undecided: Callable[[str | None], list[dict[str, Any]]]
    #: re-check a rejected decision under the policy in force (``Ops.requeue``); raises
    #: ``pipeline.ops.queries.OpsError`` when the queue cannot be reached
    requeue: Callable[[str], dict[str, Any]]
    #: an ID number's person and trainings (pipeline/catalogue/inspection.py ``trace_number``)
    trace: Callable[[str], dict[str, Any]]
    #: the files of a package found again in another training's package (W_MEDIA_REUSED),
    #: each with the other package's file (pipeline/catalogue/inspection.py ``media_pairs``)
    media_pairs: Callable[[str], list[Any]]
    #: a decision's receipt mail: its state (sent, unknown, rejected, …), when, to whom, its
    #: subject and text; None while none was sent (``receipt_id``, the shown document)
    mail: Callable[[str, dict[str, Any]], dict[str, Any] | None]
    #: the photos and videos of archived packages, read from their ZIPs
    media: PackageMedia
    #: the pipeline's state now (``Ops.status``: queues, inbox, in progress, workers, decided)
    status: Callable[[], dict[str, Any]]
    #: the metrics counters (mails sent, failed, …: pipeline/ops/metrics.py)
    counters: Callable[[], dict[str, float]]
    #: the policy in force (the rules page states its counts and limits)
    policy: Policy
    #: the registry's name of an institution account (None: not registered)
    institution_of: Callable[[str], str | None]
    #: a clerk's uploads from the browser, staged in chunks (pipeline/intake/browser_uploads.py)
    uploads: BrowserUploads
    #: with an S3 inbox: submitted ZIPs go straight to the bucket by presigned URLs; else None
    presigned: PresignedUploads | None
    #: the self-checks (自查，未上报) the workers check
    self_checks: SelfChecks
    #: queue a self-check for the workers (raises when the queue cannot be reached)
    send_self_check: Callable[[str], None]
    zone: tzinfo
    now: Callable[[], datetime]
