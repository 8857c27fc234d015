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
quiet period for one upload: an archive that is listed is ready. The key rule is
:func:`pipeline.intake.s3_store.parse_inbox_key`: ``inbox/<name>`` or ``inbox/<account>/<name>``;
in-progress names (``*.part``, ``*.filepart``, ``*.tmp``, ``.x``, ``~x``) and hidden
"folders" are ignored. Uploads that are not one ZIP (issue 15) are sorted out by
:func:`pipeline.intake.bucket_uploads.sort_listing`: a "folder" uploaded key by key and
the loose non-archive objects of an account are each one upload, packed into one ZIP by
the :class:`pipeline.intake.bucket_uploads.BucketPacker` once quiet for the folder quiet
period; while any waits, the bucket is listed again when one may be ready.

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

from pipeline.intake.bucket_uploads import BucketGroup, BucketPacker, sort_listing, sniff_object
from pipeline.intake.folder_uploads import FOLDER_QUIET_PERIOD, is_archive_name
from pipeline.intake.folder_watch import SKIPPED_KINDS, STALE_UPLOAD_TIMEOUT
from pipeline.intake.s3_store import inbox_request, parse_inbox_key
from pipeline.intake.uploads import IngestRequest

__all__ = ["BucketWatcher", "CREATED_EVENTS"]

CREATED_EVENTS = ("s3:ObjectCreated:*",)
#: the notification stream reconnects after a failure after 1 s, doubling up to this
RECONNECT_MAX_SECONDS = 60.0
#: S3 error codes meaning "this server has no listen extension": stop trying
_UNSUPPORTED_CODES = frozenset({"NotImplemented", "MethodNotAllowed", "InvalidArgument", "InvalidRequest"})
#: a packing that failed is tried again after 2 s, doubling up to this
PACK_RETRY_MAX_SECONDS = 30.0


class _Seen:
    """A group waiting in the bucket, with the watcher's clock time since which it is unchanged."""

    def __init__(self, group: BucketGroup, since: float) -> None:
        self.group = group
        self.since = since
        self.failures = 0
        self.retry_at = 0.0


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
        packer: BucketPacker | None = None,
        folder_quiet_period: float = FOLDER_QUIET_PERIOD,
        stale_upload_timeout: float = STALE_UPLOAD_TIMEOUT,
        sniff: bool = True,
    ) -> None:
        """``packer``: packs folders and loose files (pipeline/intake/bucket_uploads.py);
        without one they are only named (``watcher.upload_waiting``), never taken.
        ``sniff``: read the first bytes of an object at account level whose name is no
        archive's (a ZIP named ``材料`` is still taken as one upload)."""
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
        self.packer = packer
        self.folder_quiet_period = float(folder_quiet_period)
        self.stale_upload_timeout = float(stale_upload_timeout)
        self._sniff = sniff
        self._sniffed: dict[tuple[str, str], bool] = {}  # (key, ETag) -> starts like an archive
        self._groups: dict[str, _Seen] = {}  # by BucketGroup.ident
        self._logged_skipped: dict[str, str] = {}  # relative -> kind, as of the last scan
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._due = float("inf")  # clock time of the next scan (lowered by hints)
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
        with self._lock:
            self._due = self._clock() + self.scan_interval  # scan() sets it sooner if groups wait
        try:
            self.scan()
        except Exception:
            self._log.exception("watcher.scan_failed", bucket=self.bucket)
            with self._lock:
                self._due = min(self._due, self._clock() + self.scan_interval)
        self._threads = [threading.Thread(target=self._scan_loop, name="bucket-scan", daemon=True)]
        if self.use_notifications:
            self._threads.append(threading.Thread(target=self._listen_loop, name="bucket-listen", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
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

    def request_scan(self, at: float | None = None) -> None:
        """Scan at clock time ``at`` (now if None) unless one is due sooner."""
        with self._lock:
            self._due = min(self._due, self._clock() if at is None else at)
        self._wake.set()

    def _scan_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                wait = self._due - self._clock()
            if wait > 0:
                self._wake.wait(min(wait, self.scan_interval))
                self._wake.clear()
                continue
            with self._lock:
                self._due = self._clock() + self.scan_interval  # scan() sets it sooner if groups wait
            try:
                self.scan()
            except Exception:  # the server away: logged, tried again next interval
                self._log.exception("watcher.scan_failed", bucket=self.bucket)
                with self._lock:
                    self._due = min(self._due, self._clock() + self.scan_interval)

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
        """List the inbox; finish packings a crash cut short; hand over every version not
        handed over yet; pack the folders and loose files quiet long enough; forget the
        hand-overs of objects gone; call ``on_scan`` with the listing. Returns it."""
        with self._lock:
            seq_before = self._seq
            self._due = float("inf")  # hints from now on lower it again
        objects = [o for o in self.client.list_objects(self.bucket, prefix=self.prefix, recursive=True)
                   if not o.is_dir and o.object_name]
        listing = sort_listing(objects, self.prefix, time.time(), self.stale_upload_timeout, self._sniffed_archive)
        listed = {o.object_name for o in objects}
        self._sniffed = {k: v for k, v in self._sniffed.items() if k[0] in listed}
        published = self._resume_packings(listing.groups, listed)
        held = self.packer.held() if self.packer is not None else set()
        present = {o.object_name: inbox_request(o) for o in listing.candidates if o.object_name not in held}
        new = sum(1 for request in present.values() if self._hand(request))
        with self._lock:
            # Forget hand-overs of objects no longer listed (or replaced) - only those made
            # before the listing began, which it must show.
            for key, (version, seq) in list(self._handed.items()):
                current = present.get(key)
                if seq <= seq_before and (current is None or current.version != version):
                    del self._handed[key]
            unfinished = {rel: (account, mtime) for rel, account, mtime in listing.unfinished}
            newly_skipped = [rel for rel in unfinished if self._logged_skipped.get(rel) != "unfinished_upload"]
            self._logged_skipped = {rel: "unfinished_upload" for rel in unfinished}
        for rel in newly_skipped:
            self._log.warning("watcher.skipped", relative=rel, account=unfinished[rel][0], kind="unfinished_upload",
                              note=SKIPPED_KINDS["unfinished_upload"])
        self._track_groups(listing.groups)
        for key in published:
            self._hand_key(key)
        self._pack_ready()
        self._log.info("watcher.scan", bucket=self.bucket, objects=len(present), new=new)
        self._schedule_next()
        listing_out = list(present.values())
        if self._on_scan is not None:
            try:
                self._on_scan(listing_out)
            except Exception:
                self._log.exception("watcher.on_scan_failed")
        return listing_out

    def _sniffed_archive(self, obj: Any) -> bool:
        if not self._sniff:
            return False
        key = (obj.object_name or "", str(obj.etag or ""))
        if key not in self._sniffed:
            self._sniffed[key] = sniff_object(self.client, self.bucket, obj)
        return self._sniffed[key]

    def _hand_key(self, key: str) -> bool:
        """Hand over the object now under ``key`` (a ZIP just packed)."""
        try:
            obj = self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code not in ("NoSuchKey", "NoSuchVersion"):
                self._log.warning("watcher.stat_failed", key=key, error=str(exc))
            return False
        return self._hand(inbox_request(obj))

    # ------------------------------------------------------------------ folders, loose files

    def _track_groups(self, groups: list[BucketGroup]) -> None:
        now = self._clock()
        fresh = []
        with self._lock:
            seen = {g.ident: g for g in groups}
            for ident in [i for i in self._groups if i not in seen]:
                del self._groups[ident]
            for g in groups:
                known = self._groups.get(g.ident)
                if known is None:
                    self._groups[g.ident] = _Seen(g, now)
                    fresh.append(g)
                elif known.group.signature != g.signature or g.busy:
                    known.group, known.since, known.failures, known.retry_at = g, now, 0, 0.0
                else:
                    known.group = g
        for g in fresh:
            self._log.info("watcher.upload_waiting", relative=g.relative, account=g.account, kind=g.kind,
                           files=len(g.members), folder_quiet_period=self.folder_quiet_period)

    def _wait_left(self, seen: _Seen) -> float:
        """Seconds until a group is quiet long enough: by its newest LastModified (the
        server's clock) and by how long this watcher has seen it unchanged (its own)."""
        by_server = self.folder_quiet_period - (time.time() - seen.group.last_change)
        by_watcher = self.folder_quiet_period - (self._clock() - seen.since)
        return max(by_server, by_watcher, seen.retry_at - self._clock())

    def _pack_ready(self) -> None:
        if self.packer is None:
            return
        with self._lock:
            ready = [s for s in self._groups.values()
                     if not s.group.busy and s.group.members and self._wait_left(s) <= 0]
        for seen in ready:
            g = seen.group
            if self.packer.multipart_under_way(g):  # a big file still being uploaded into it
                with self._lock:
                    seen.since = self._clock()
                continue
            try:
                target = self.packer.pack(g)
            except Exception as exc:
                with self._lock:
                    seen.failures += 1
                    seen.retry_at = self._clock() + min(PACK_RETRY_MAX_SECONDS, 2.0 ** seen.failures)
                self._log.exception("watcher.pack_failed", relative=g.relative, kind=g.kind, error=str(exc))
                continue
            if target is None:  # another watcher packs it, or it changed: looked at again soon
                with self._lock:
                    seen.retry_at = self._clock() + 2.0
                continue
            with self._lock:
                if self._groups.get(g.ident) is seen:
                    del self._groups[g.ident]
            self._hand_key(target)

    def _resume_packings(self, groups: list[BucketGroup], listed: set[str]) -> list[str]:
        """Finish packings a crash cut short (before anything is handed over: their ZIPs
        are handed over once their sources are deleted)."""
        if self.packer is None:
            return []
        try:
            return self.packer.resume() + self.packer.adopt(groups, listed)
        except Exception as exc:
            self._log.exception("watcher.pack_failed", relative="", kind="resume", error=str(exc))
            return []

    def _schedule_next(self) -> None:
        """The next scan: after the scan interval, or when a waiting group may be ready."""
        delay = self.scan_interval
        with self._lock:
            for seen in self._groups.values():
                if seen.group.busy:
                    delay = min(delay, max(1.0, self.folder_quiet_period))
                elif self.packer is not None:
                    delay = min(delay, max(0.2, self._wait_left(seen) + 0.1))
            self._due = min(self._due, self._clock() + delay)

    def waiting_groups(self) -> list[BucketGroup]:
        """The folders and loose files waiting (for tests and status)."""
        with self._lock:
            return [s.group for s in self._groups.values()]

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
        if where is None:
            return False
        if key.count("/") > self.prefix.count("/") + 1 or not is_archive_name(where.name):
            # a folder's key or a loose file: the scan sorts them out; list again soon, so
            # the group is seen while its quiet period runs
            self.request_scan(self._clock() + 1.0)
            return False
        if self.packer is not None and key in self.packer.held():
            return False  # a packed ZIP whose sources are not deleted yet: handed over after
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
            self.request_scan()  # events before this connection are not coming: reconcile
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
