"""The bucket watcher: notices uploads in the inbox bucket and hands each version over once.

Two sources, neither trusted alone:

* **Reconcile scan** (every ``scan_interval`` seconds, at start, and right after every
  (re)connection of the notification stream): ``list_objects`` of the inbox prefix. Alone
  it is enough, on any S3 server; it is the truth.
* **MinIO notifications** (``listen_bucket_notification``, a MinIO extension) for low
  latency. Only ``s3:ObjectCreated:*`` events are asked for (by default MinIO also sends
  reads, and our own downloads would echo). Events are hints: each one is re-read with
  ``stat_object``; events are lost while the stream reconnects and while the watcher is
  down, which is why every (re)connection triggers a scan. A server that does not speak
  the extension (Amazon S3, moto, Ceph) is detected at the first connection: one warning,
  then scans only.

An object in S3 appears whole (a PUT or a completed multipart upload), so there is no
quiet period: an object that is listed is ready. The key rule is
:func:`pipeline.intake.s3_store.parse_inbox_key`: ``inbox/<name>`` or ``inbox/<account>/<name>``;
in-progress names (``*.part``, ``*.filepart``, ``*.tmp``, ``.x``, ``~x``) and hidden
"folders" are ignored, deeper keys are warned about once per version.

Each version (key, size, ETag) is handed to ``on_ready`` at most once per watcher (a
failed hand-over is retried at the next scan); across watchers and restarts the caller
dedupes (:class:`pipeline.intake.handover.Handover` marks versions enqueued in Redis,
set-if-absent).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import structlog
from minio import Minio
from minio.error import S3Error

from pipeline.intake.s3_store import inbox_request, parse_inbox_key
from pipeline.intake.uploads import IngestRequest

__all__ = ["BucketWatcher", "CREATED_EVENTS"]

CREATED_EVENTS = ("s3:ObjectCreated:*",)
#: the notification stream reconnects after a failure after 1 s, doubling up to this
RECONNECT_MAX_SECONDS = 60.0
#: S3 error codes meaning "this server has no listen extension": stop trying
_UNSUPPORTED_CODES = frozenset({"NotImplemented", "MethodNotAllowed", "InvalidArgument", "InvalidRequest"})


class NotificationsUnsupported(RuntimeError):
    """The server does not implement MinIO's bucket notification stream."""


class BucketWatcher:
    """Watches ``bucket``/``prefix`` and calls ``on_ready`` once per object version."""

    def __init__(
        self,
        client: Minio,
        bucket: str,
        prefix: str,
        on_ready: Callable[[IngestRequest], None],
        *,
        scan_interval: float = 60.0,
        use_notifications: bool = True,
        on_scan: Callable[[list[IngestRequest]], None] | None = None,
        logger: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"prefix must be empty or end with '/': {prefix!r}")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.scan_interval = float(scan_interval)
        self.use_notifications = use_notifications
        self._on_ready = on_ready
        self._on_scan = on_scan
        self._clock = clock
        self._log = logger if logger is not None else structlog.get_logger("pipeline.intake.bucket_watch")

        self._lock = threading.Lock()  # one hand-over at a time: exactly once per version
        # key -> (version handed over, hand-over sequence number); keys still listed only
        self._handed: dict[str, tuple[str, int]] = {}
        self._seq = 0
        self._warned_deep: dict[str, str] = {}
        self._stop = threading.Event()
        self._scan_soon = threading.Event()
        self._threads: list[threading.Thread] = []
        self._response: Any | None = None  # the notification stream being read
        #: True while the notification stream is connected (for status and tests)
        self.notifications_connected = False
        #: None: not tried yet; False: the server has no listen extension
        self.notifications_supported: bool | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Scan once now, then scan every ``scan_interval`` and listen for events."""
        if self._threads:
            raise RuntimeError("BucketWatcher already started")
        self._stop.clear()
        self._log.info("watcher.started", bucket=self.bucket, prefix=self.prefix,
                       scan_interval=self.scan_interval, notifications=self.use_notifications)
        try:
            self.scan()
        except Exception:
            self._log.exception("watcher.scan_failed", bucket=self.bucket)
        self._threads = [threading.Thread(target=self._scan_loop, name="bucket-scan", daemon=True)]
        if self.use_notifications:
            self._threads.append(threading.Thread(target=self._listen_loop, name="bucket-listen", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._scan_soon.set()
        self._close_stream()
        threads, self._threads = self._threads, []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
        if threads:
            self._log.info("watcher.stopped", bucket=self.bucket)

    def __enter__(self) -> BucketWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _scan_loop(self) -> None:
        next_scan = self._clock() + self.scan_interval
        while not self._stop.is_set():
            self._scan_soon.wait(max(0.0, next_scan - self._clock()))
            if self._stop.is_set():
                return
            self._scan_soon.clear()
            try:
                self.scan()
            except Exception:  # the server away: logged, tried again next interval
                self._log.exception("watcher.scan_failed", bucket=self.bucket)
            next_scan = self._clock() + self.scan_interval

    # ------------------------------------------------------------------ hand-over

    def _hand(self, request: IngestRequest) -> bool:
        """Call ``on_ready`` unless this version was handed over already."""
        with self._lock:
            handed = self._handed.get(request.location)
            if handed is not None and handed[0] == request.version:
                return False
            try:
                self._on_ready(request)
            except Exception:  # Redis away, say: the next scan tries again
                self._log.exception("watcher.enqueue_failed", key=request.location, version=request.version)
                return False
            self._seq += 1
            self._handed[request.location] = (request.version, self._seq)
        self._log.info("watcher.ready", bucket=self.bucket, key=request.location, size=request.size,
                       version=request.version)
        return True

    # ------------------------------------------------------------------ scan

    def scan(self) -> list[IngestRequest]:
        """List the inbox; hand over every version not handed over yet; forget the
        hand-overs of objects gone; call ``on_scan`` with the listing. Returns it."""
        with self._lock:
            seq_before = self._seq
        present: dict[str, IngestRequest] = {}
        deep: dict[str, IngestRequest] = {}
        for obj in self.client.list_objects(self.bucket, prefix=self.prefix, recursive=True):
            if obj.is_dir or not obj.object_name:
                continue
            where = parse_inbox_key(obj.object_name, self.prefix)
            if where is None:
                continue
            request = inbox_request(obj)
            (present if where.in_scope else deep)[obj.object_name] = request
        new = sum(1 for request in present.values() if self._hand(request))
        with self._lock:
            # Forget hand-overs of objects no longer listed (or replaced) - only those made
            # before the listing began, which it must show.
            for key, (version, seq) in list(self._handed.items()):
                current = present.get(key)
                if seq <= seq_before and (current is None or current.version != version):
                    del self._handed[key]
            for key, version in list(self._warned_deep.items()):
                if key not in deep or deep[key].version != version:
                    del self._warned_deep[key]
            to_warn = [r for k, r in deep.items() if self._warned_deep.get(k) != r.version]
            for request in to_warn:
                self._warned_deep[request.location] = request.version
        for request in to_warn:
            self._log.warning("watcher.too_deep", bucket=self.bucket, key=request.location,
                              rule=f"{self.prefix}<name> or {self.prefix}<account>/<name>")
        self._log.info("watcher.scan", bucket=self.bucket, objects=len(present), new=new)
        listing = list(present.values())
        if self._on_scan is not None:
            try:
                self._on_scan(listing)
            except Exception:
                self._log.exception("watcher.on_scan_failed")
        return listing

    # ------------------------------------------------------------------ notifications

    def handle_event(self, record: dict[str, Any]) -> bool:
        """One notification record: a hint to look at its key now. True if handed over."""
        if "ObjectCreated" not in str(record.get("eventName", "")):
            return False
        s3 = record.get("s3") or {}
        if (s3.get("bucket") or {}).get("name", self.bucket) != self.bucket:
            return False
        key = unquote_plus(str((s3.get("object") or {}).get("key", "")))
        where = parse_inbox_key(key, self.prefix)
        if where is None or not where.in_scope:
            return False  # deep keys are the scan's to warn about
        try:
            obj = self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code not in ("NoSuchKey", "NoSuchVersion"):
                self._log.warning("watcher.stat_failed", key=key, error=str(exc))
            return False  # gone already, or the scan will see it
        return self._hand(inbox_request(obj))

    def _close_stream(self) -> None:
        response, self._response = self._response, None
        if response is None:
            return
        try:
            if hasattr(response, "shutdown"):  # urllib3 >= 2.3: unblocks a blocked read
                response.shutdown()
            response.close()
        except Exception:
            pass

    def _listen_loop(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._listen_once()
            except NotificationsUnsupported as exc:
                self.notifications_supported = False
                self._log.warning("watcher.notifications_unsupported", bucket=self.bucket, reason=str(exc),
                                  fallback=f"scan every {self.scan_interval:g} s")
                return
            except Exception as exc:
                if self._stop.is_set():
                    return
                if self.notifications_connected:
                    backoff = 1.0  # it worked until now: reconnect soon
                self._log.warning("watcher.notifications_lost", bucket=self.bucket, error=repr(exc),
                                  retry_in_s=backoff)
            finally:
                self.notifications_connected = False
            if self._stop.wait(backoff):
                return
            backoff = min(RECONNECT_MAX_SECONDS, backoff * 2)

    def _listen_once(self) -> None:
        """Read the stream until it fails; the SDK reconnects by itself when the server
        closes it, so every connection is hooked: checked, counted, and followed by a scan
        (the events in between are lost)."""
        try:
            events = self.client.listen_bucket_notification(self.bucket, prefix=self.prefix,
                                                            events=CREATED_EVENTS)
        except ValueError as exc:  # the SDK refuses for Amazon S3 hosts
            raise NotificationsUnsupported(str(exc)) from exc
        connect = getattr(events, "_func", None)
        if connect is None:
            raise NotificationsUnsupported("this minio SDK's event stream cannot be hooked")
        last_connect = [0.0]

        def hooked_connect() -> Any:
            if self._stop.is_set():
                raise RuntimeError("stopping")
            # The SDK reconnects in a loop when a stream ends at once: pace it.
            pause = 1.0 - (self._clock() - last_connect[0])
            if pause > 0 and self._stop.wait(pause):
                raise RuntimeError("stopping")
            last_connect[0] = self._clock()
            try:
                response = connect()
            except S3Error as exc:
                if exc.code in _UNSUPPORTED_CODES:
                    raise NotificationsUnsupported(f"{exc.code}: {exc.message}") from exc
                raise
            content_type = str(response.headers.get("content-type") or "").lower()
            if "xml" in content_type or "html" in content_type:
                # An S3 server without the extension answers with a listing (moto) or a page.
                response.close()
                response.release_conn()
                raise NotificationsUnsupported(f"the server answered a listen request with {content_type}")
            self._response = response
            first = self.notifications_supported is None
            self.notifications_supported = True
            self.notifications_connected = True
            self._log.info("watcher.notifications_connected", bucket=self.bucket, first=first)
            self._scan_soon.set()  # events before this connection are not coming: reconcile
            return response

        events._func = hooked_connect
        with events:
            for batch in events:
                for record in batch.get("Records") or []:
                    try:
                        self.handle_event(record)
                    except Exception:
                        self._log.exception("watcher.event_failed")
                if self._stop.is_set():
                    return
