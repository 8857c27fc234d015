"""The inbox watcher: notices uploaded packages and hands each finished one over, once.

Institutions drop ZIP packages into the inbox (``inbox/x.zip`` or one account level deep,
``inbox/<account>/x.zip``), usually by SFTP or WinSCP. Filesystem events (watchdog,
recursive) are only *hints*: a killed SFTP client fires close-after-write on a half file,
a resumed upload writes again, inotify can overflow and the watcher may have been down.
So the truth is always a fresh ``stat``:

* a candidate is a regular file at the top level or one account folder deep whose name is
  not an upload in progress (``*.part``, ``*.filepart``, ``*.tmp``, ``.x``, ``~x``);
* it is ready once its (size, mtime) stayed unchanged for the quiet period and it either
  ends with a ZIP end record or is not a ZIP at all (the reader rejects that one);
* a ZIP whose end record is still missing waits (the upload may be resumed) until it has
  been unchanged for the stale-upload timeout, then it is handed over anyway (the reader
  rejects it as PKG_CORRUPT);
* a file renamed into the inbox (WinSCP's ``x.zip.filepart`` -> ``x.zip``, ``mv``) skips
  the quiet period if it is complete, since a rename means the writer is done;
* a 0-byte file cannot be told from an upload not begun, so it waits ``empty_upload_wait``
  (1 min, not the stale-upload timeout) and is then handed over (the reader rejects it);
  renamed in, at once;
* each version (relative path, size, mtime_ns) is handed to ``on_ready`` at most once.

What the watcher skips is named once in the log (``watcher.skipped``) and listed by
``pipeline status`` (:func:`skipped_in_inbox`): symlinks, FIFOs, sockets and devices,
folders named like a package (``x.zip/``: an unpacked upload), hidden folders, and
uploads under an in-progress name that nobody finished or renamed.

A scan at start and every ``scan_interval`` seconds registers whatever the events missed
and calls ``on_scan`` (the caller re-enqueues claims whose worker died there). The library
knows nothing of the queue: ``on_ready`` is whatever the caller hands in.
"""

from __future__ import annotations

import logging
import os
import stat as stat_mod
import threading
import time
from datetime import tzinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from pipeline.check.package_reader import zip_end_record_present
from pipeline.intake.faults import NO_FAULTS, FaultPoints
from pipeline.intake.folder_uploads import (FOLDER_QUIET_PERIOD, PACKING_DIR, Group, Member, Packer, PackingState,
                                            is_archive_name, is_busy_name, looks_like_archive, scan_folder)
from pipeline.intake.uploads import IN_PROGRESS_PREFIXES, is_in_progress_name, version_id

__all__ = [
    "EMPTY_UPLOAD_WAIT",
    "SKIPPED_KINDS",
    "STALE_UPLOAD_TIMEOUT",
    "InboxFile",
    "InboxWatcher",
    "SkippedEntry",
    "scan_inbox",
    "skipped_in_inbox",
    "uploads_in_inbox",
]

#: seconds a ZIP without its end record may wait for its upload to resume (the default of
#: ``InboxWatcher`` and of ``pipeline status``'s report of unfinished uploads)
STALE_UPLOAD_TIMEOUT = 1800.0

#: seconds a 0-byte file waits before it is handed over: long enough for a client that
#: created the file to start writing, far shorter than the stale-upload timeout, since an
#: empty file has no end record to wait for
EMPTY_UPLOAD_WAIT = 60.0


# Only what the watcher reacts to: not FileOpenedEvent / FileClosedNoWriteEvent (our own
# reads of the files would fire them), not DirModifiedEvent (noise).
_EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]


@dataclass(frozen=True)
class InboxFile:
    path: Path  # absolute path of the file in the inbox
    relative: str  # path relative to the inbox root, "/"-separated, e.g. "xinghuo/材料.zip"
    account: str  # "" at the top level, else the subfolder name
    size: int
    mtime_ns: int

    @property
    def version(self) -> str:
        """Stable short id of (relative, size, mtime_ns): the id the workers use too."""
        return version_id(self.relative, self.size, self.mtime_ns)


def _is_hidden_dir(name: str) -> bool:
    return not name or name.startswith(IN_PROGRESS_PREFIXES)


def _named_like_package(name: str) -> bool:
    """A folder named ``x.zip``: an unpacked package (a Mac's or WinSCP's folder upload),
    never a package and never an account."""
    return name.lower().endswith(".zip")


# --------------------------------------------------------------------------- skipped entries

#: Why an entry of the inbox is skipped (stable snake_case values, shown by ``pipeline
#: status`` and logged as ``watcher.skipped``), with what the operator should do about it.
SKIPPED_KINDS: dict[str, str] = {
    "symlink": "a symbolic link is never followed (it could point outside the inbox): "
               "upload the ZIP file itself",
    "not_a_file": "not a regular file (a FIFO, socket or device): there is nothing to read; remove it",
    "folder_named_like_a_package": "a folder named like a ZIP at the top level of the inbox, where folders are "
                                   "accounts: an unpacked package; its contents are not looked at. Upload the "
                                   "package as one ZIP file (or the folder into an account folder), then remove it",
    "hidden_folder": "a folder whose name starts with '.' or '~' is never looked into: "
                     "packages go in inbox/ or inbox/<account>/",
    "unfinished_upload": "an upload name (.x, ~x, *.part, *.filepart, *.tmp) unchanged for longer than the "
                         "stale-upload timeout: the upload was never finished or renamed. Upload it again, "
                         "or remove it",
}


@dataclass(frozen=True)
class SkippedEntry:
    """An entry of the inbox the watcher leaves out and the operator should hear about."""

    relative: str  # path relative to the inbox root, "/"-separated
    account: str  # "" at the top level, else the account folder's name
    kind: str  # a key of SKIPPED_KINDS
    mtime: float  # of the entry itself (lstat: never what a symlink points to), epoch seconds

    @property
    def note(self) -> str:
        return SKIPPED_KINDS[self.kind]


# --------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class _Location:
    relative: str
    account: str
    in_scope: bool  # False: deeper than one account level


def _locate(root: str, path: str) -> _Location | None:
    """Where ``path`` sits in the inbox, or None when the watcher must ignore it."""
    prefix = root.rstrip(os.sep) + os.sep
    if not path.startswith(prefix):
        return None
    parts = path[len(prefix) :].split(os.sep)
    if any(not p for p in parts) or is_in_progress_name(parts[-1]):
        return None
    if any(_is_hidden_dir(p) for p in parts[:-1]):
        return None
    # Under a folder named like a package (top or account level): not candidates, not
    # too deep - the folder itself is reported once by the scan.
    if any(_named_like_package(p) for p in parts[:-1][:2]):
        return None
    relative = "/".join(parts)
    if len(parts) == 1:
        return _Location(relative, "", True)
    return _Location(relative, parts[0], len(parts) == 2)


def _scandir(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


@dataclass
class _Walk:
    """One walk of the inbox: what the watcher takes, groups, warns about and skips.
    Symlinks are never followed."""

    now: float  # wall-clock time (mtimes are wall-clock): for the age of in-progress names
    unfinished_after: float  # an in-progress name older than this is an unfinished upload
    candidates: list[InboxFile] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)  # folder uploads and loose files (folder_uploads.py)
    skipped: list[SkippedEntry] = field(default_factory=list)
    _loose: dict[str, list[Member]] = field(default_factory=dict)  # level ("" or account) -> loose files
    _busy: dict[str, float] = field(default_factory=dict)  # level -> mtime of a young in-progress name there

    def run(self, root: Path) -> _Walk:
        with os.scandir(root) as it:  # a missing inbox is an error
            top = list(it)
        for entry in top:
            if not entry.is_dir(follow_symlinks=False):
                self._file(entry, entry.name, "")
            elif entry.name == PACKING_DIR:
                continue  # the watcher's own packings in progress (listed by pipeline status)
            elif self._enter(entry, entry.name, "", top_level=True):
                account = entry.name
                for sub in _scandir(entry.path):
                    rel = f"{account}/{sub.name}"
                    if not sub.is_dir(follow_symlinks=False):
                        self._file(sub, rel, account)
                    elif self._enter(sub, rel, account, top_level=False):
                        self._folder(sub, rel, account)
        for level, members in self._loose.items():
            members.sort(key=lambda m: m.relative)
            self.groups.append(Group("files", level, level, tuple(members), level in self._busy,
                                     max([m.mtime_ns / 1e9 for m in members] + [self._busy.get(level, 0.0)])))
        for found in (self.candidates, self.groups, self.skipped):
            found.sort(key=lambda f: f.relative)
        return self

    def _folder(self, entry: os.DirEntry[str], relative: str, account: str) -> None:
        """A folder below an account: a folder upload, or ZIPs to take one by one."""
        found = scan_folder(entry.path, relative, account, self.now, self.unfinished_after)
        for path, rel, size, mtime_ns in found.zips:
            self.candidates.append(InboxFile(Path(path), rel, account, size, mtime_ns))
        for rel, kind, mtime in found.odd:
            self.skipped.append(SkippedEntry(rel, account, kind, mtime))
        if found.group is not None:
            self.groups.append(found.group)

    def _enter(self, entry: os.DirEntry[str], relative: str, account: str, *, top_level: bool) -> bool:
        """Whether to look into a folder; one that is skipped is recorded."""
        if _is_hidden_dir(entry.name):
            self._skip(entry, relative, account, "hidden_folder")
            return False
        # At the top level a folder is an account: one named like a package is an upload.
        if top_level and _named_like_package(entry.name):
            self._skip(entry, relative, account, "folder_named_like_a_package")
            return False
        return True

    def _file(self, entry: os.DirEntry[str], relative: str, account: str) -> None:
        """A non-folder entry at the top or account level: a candidate when it is a
        regular file with a finished name that is an archive (by name or bytes), a loose
        file when it is no archive, else recorded as skipped if the operator should hear
        of it."""
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:  # vanished meanwhile
            return
        if stat_mod.S_ISLNK(st.st_mode):
            self.skipped.append(SkippedEntry(relative, account, "symlink", st.st_mtime))
        elif not stat_mod.S_ISREG(st.st_mode):
            self.skipped.append(SkippedEntry(relative, account, "not_a_file", st.st_mtime))
        elif not is_in_progress_name(entry.name):
            if looks_like_archive(entry.path, entry.name):
                self.candidates.append(InboxFile(Path(entry.path), relative, account, st.st_size, st.st_mtime_ns))
            else:
                self._loose.setdefault(account, []).append(Member(entry.name, st.st_size, st.st_mtime_ns))
        elif self.now - st.st_mtime > self.unfinished_after:
            # a young one is an upload in progress: normal, not worth a word
            self.skipped.append(SkippedEntry(relative, account, "unfinished_upload", st.st_mtime))
        elif is_busy_name(entry.name):  # loose files beside an upload in progress wait for it
            self._busy[account] = max(self._busy.get(account, 0.0), st.st_mtime)

    def _skip(self, entry: os.DirEntry[str], relative: str, account: str, kind: str) -> None:
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:  # vanished meanwhile: nothing to tell
            return
        self.skipped.append(SkippedEntry(relative, account, kind, mtime))


def _walk(root: Path, now: float | None = None, unfinished_after: float = STALE_UPLOAD_TIMEOUT) -> _Walk:
    """The one walk of the inbox (candidates, groups, skipped entries)."""
    return _Walk(time.time() if now is None else now, unfinished_after).run(root)


def scan_inbox(inbox: Path) -> list[InboxFile]:
    """The candidate files in the inbox now, with their stat, sorted by relative path.

    Top level and one account folder deep; in-progress names, hidden folders, folders
    named like a package, symlinks and non-regular files are left out. Paths are under
    ``inbox`` resolved.
    """
    return _walk(Path(inbox).resolve()).candidates


def uploads_in_inbox(inbox: Path, now: float, unfinished_after: float) -> tuple[list[Group], list[PackingState]]:
    """The folder uploads and sets of loose files waiting in the inbox (each becomes one
    packed ZIP once quiet), and the packings under way: what ``pipeline status`` lists."""
    root = Path(inbox).resolve()
    return _walk(root, now, unfinished_after).groups, Packer(root, structlog.get_logger()).states()


def skipped_in_inbox(inbox: Path, now: float, unfinished_after: float) -> list[SkippedEntry]:
    """What the watcher leaves out of the inbox and the operator should hear about, sorted
    by relative path: symlinks and non-regular files (any depth), hidden folders, folders
    named like a package (top or account level), and files under an in-progress name
    whose mtime is more than ``unfinished_after`` seconds before ``now`` (wall-clock)."""
    return _walk(Path(inbox).resolve(), now, unfinished_after).skipped


# --------------------------------------------------------------------------- watcher

_UNKNOWN = object()  # zip status not examined yet for the current (size, mtime)


@dataclass
class _Candidate:
    path: Path
    relative: str
    account: str
    since: float  # clock time since which (size, mtime) is unchanged
    sig: tuple[int, int] | None = None  # last seen (size, mtime_ns)
    moved_in: bool = False  # renamed into the inbox and not written since
    zip_status: Any = _UNKNOWN
    logged_waiting: str | None = None  # version for which waiting_incomplete_zip was logged
    logged_unreadable: str | None = None
    logged_empty: str | None = None  # version for which empty_file was logged
    failures: int = 0  # on_ready failures for the current version
    retry_at: float = 0.0  # clock time before which a failed hand-over is not retried


@dataclass
class _GroupCandidate:
    group: Group
    since: float  # clock time since which the group's files are unchanged
    failures: int = 0  # packings that failed (a full disk, say)
    retry_at: float = 0.0


#: seconds between walks of the inbox for folder uploads and loose files while any wait
GROUP_WALK_INTERVAL = 0.5


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: InboxWatcher) -> None:
        self._watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._watcher._on_event(event)
        except Exception:  # an exception here would kill the observer thread
            self._watcher._log.exception("watcher.event_failed", event_type=event.event_type)


#: A failed hand-over (the queue unreachable) is retried after 0.5 s, doubling to this.
ENQUEUE_RETRY_MAX_SECONDS = 30.0

#: How long watchdog holds an IN_MOVED_FROM to pair it with its IN_MOVED_TO. Its default
#: of 0.5 s delays *every later event* behind each unpaired move-out, and every claim is a
#: move out of the inbox: measured, it added ~0.45 s to the next upload's latency. The
#: kernel queues both halves of a rename back to back, so 50 ms pairs them all the same.
MOVE_PAIRING_SECONDS = 0.05


def _shorten_move_pairing() -> None:
    try:
        from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper
    except ImportError:  # another watchdog layout: keep its default
        return
    InotifyMoveEventGrouper.delay = MOVE_PAIRING_SECONDS


def _make_observer() -> Any:
    try:
        from watchdog.observers.inotify import InotifyObserver
    except Exception:  # not Linux
        InotifyObserver = None  # noqa: N806
    if InotifyObserver is not None and Observer is InotifyObserver:
        _shorten_move_pairing()
        # Full events: an `mv` from outside the watched tree arrives as a move into the
        # inbox (ready at once) instead of a bare creation.
        return InotifyObserver(generate_full_events=True)
    return Observer()


#: watchdog reports a kernel inotify queue overflow (events were dropped) only as a
#: warning of one of its observer modules' loggers, no event for the handler; so the
#: watcher listens to their parent logger and scans at once instead of at the next
#: periodic scan.
_OVERFLOW_LOGGER = "watchdog.observers"


class _OverflowListener(logging.Handler):
    """Sets ``flag`` when watchdog logs that the inotify queue overflowed."""

    def __init__(self, flag: threading.Event) -> None:
        super().__init__(logging.WARNING)
        self.flag = flag

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in str(record.msg).lower():
            self.flag.set()


def _fs(path: bytes | str) -> str:
    return os.fsdecode(path) if path else ""


class InboxWatcher:
    """Watches ``inbox`` and calls ``on_ready`` once per finished file version."""

    POLL_INTERVAL = 0.1  # seconds between poll() calls of the scheduler thread

    def __init__(
        self,
        inbox: Path,
        on_ready: Callable[[InboxFile], None],
        *,
        quiet_period: float = 2.0,
        stale_upload_timeout: float = STALE_UPLOAD_TIMEOUT,
        scan_interval: float = 60.0,
        on_scan: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        logger: Any | None = None,
        rehand_after: float | None = None,
        may_rehand: Callable[[], bool] | None = None,
        empty_upload_wait: float = EMPTY_UPLOAD_WAIT,
        folder_quiet_period: float = FOLDER_QUIET_PERIOD,
        faults: FaultPoints = NO_FAULTS,
        zone: tzinfo | None = None,
    ) -> None:
        self.inbox = Path(inbox).resolve()
        self._root = str(self.inbox)
        self._on_ready = on_ready
        self.quiet_period = float(quiet_period)
        self.stale_upload_timeout = float(stale_upload_timeout)
        #: a 0-byte file unchanged this long is handed over; never before the quiet period,
        #: which every other file waits too
        self.empty_upload_wait = max(float(empty_upload_wait), self.quiet_period)
        self.scan_interval = float(scan_interval)
        #: a folder upload or a set of loose files unchanged this long is packed and taken
        #: (never before the quiet period)
        self.folder_quiet_period = max(float(folder_quiet_period), self.quiet_period)
        #: a handed-over version still in the inbox this long after is handed over again
        #: at the next scan: its message (or Redis's record of it) may have been lost
        self.rehand_after = rehand_after
        #: asked once per scan before any hand-over is repeated: False while the queue
        #: still holds messages (the file's may be among them, just not reached yet), so
        #: a backlog does not multiply its own messages every ``rehand_after``
        self._may_rehand = may_rehand
        self._on_scan = on_scan
        self._clock = clock
        self._log = logger if logger is not None else structlog.get_logger("pipeline.intake.folder_watch")

        self._lock = threading.Lock()  # guards the dicts below and candidate fields
        self._poll_lock = threading.Lock()  # one poll at a time: hand-over stays exactly-once
        self._candidates: dict[str, _Candidate] = {}
        # relative -> (version handed over, hand-over sequence number). Only the last
        # version per path that is still in the inbox is kept: bounded by the inbox.
        self._handed: dict[str, tuple[str, int]] = {}
        self._handed_at: dict[str, float] = {}  # relative -> clock time of its hand-over
        self._handed_seq = 0
        # folder uploads and loose files (pipeline/intake/folder_uploads.py), by Group.ident
        self._groups: dict[str, _GroupCandidate] = {}
        self._group_dirty = True  # an event outside the plain candidates: walk again soon
        self._next_group_walk = 0.0
        self._packer = Packer(self.inbox, self._log, faults, **({"zone": zone} if zone else {}))
        # relative -> kind of the skipped entries logged, as of the last scan: an entry is
        # named once, and again only after it was gone (or changed kind) at a scan
        self._logged_skipped: dict[str, str] = {}

        self._observer: Any | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._observer_death_logged = False
        self._events_lost = threading.Event()  # set on an inotify overflow: scan now
        self._overflow_listener = _OverflowListener(self._events_lost)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the recursive observer and the scheduler thread; scan right away."""
        if self._thread is not None:
            raise RuntimeError("InboxWatcher already started")
        if not self.inbox.is_dir():
            raise FileNotFoundError(f"inbox is not a directory: {self.inbox}")
        self._stop.clear()
        logging.getLogger(_OVERFLOW_LOGGER).addHandler(self._overflow_listener)
        observer = _make_observer()
        observer.schedule(_Handler(self), self._root, recursive=True, event_filter=_EVENT_FILTER)
        observer.daemon = True
        observer.start()  # before the scan: nothing created in between goes unseen
        self._observer = observer
        self._log.info(
            "watcher.started",
            inbox=self._root,
            quiet_period=self.quiet_period,
            stale_upload_timeout=self.stale_upload_timeout,
            scan_interval=self.scan_interval,
        )
        try:
            self.scan()
        except Exception:
            self._log.exception("watcher.scan_failed")
        self._thread = threading.Thread(target=self._run, name="inbox-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        observer, self._observer = self._observer, None
        thread, self._thread = self._thread, None
        if observer is not None:
            observer.stop()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if observer is not None:
            observer.join(timeout)
            self._log.info("watcher.stopped", inbox=self._root)
        logging.getLogger(_OVERFLOW_LOGGER).removeHandler(self._overflow_listener)

    def __enter__(self) -> InboxWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        next_scan = self._clock() + self.scan_interval
        while not self._stop.wait(self.POLL_INTERVAL):
            try:
                if self._events_lost.is_set():
                    self._events_lost.clear()
                    self._log.warning("watcher.events_lost", inbox=self._root,
                                      note="inotify queue overflowed; scanning the inbox now")
                    next_scan = self._clock() + self.scan_interval
                    self.scan()
                elif self._clock() >= next_scan:
                    next_scan = self._clock() + self.scan_interval
                    self.scan()
                self.poll()
                observer = self._observer
                if observer is not None and not observer.is_alive() and not self._observer_death_logged:
                    self._observer_death_logged = True
                    self._log.error("watcher.observer_died", inbox=self._root)
            except Exception:  # never let the scheduler thread die
                self._log.exception("watcher.loop_failed")

    # ------------------------------------------------------------------ scan

    def scan(self) -> None:
        """Register every candidate in the inbox (what events may have missed), prune
        the memory of files gone, then call ``on_scan``."""
        with self._lock:
            seq_before = self._handed_seq
        # wall-clock time for the walk: an in-progress name's age is read off its mtime
        walk = _walk(self.inbox, time.time(), self.stale_upload_timeout)
        files = walk.candidates
        now = self._clock()
        present = {f.relative: f for f in files}
        registered = 0
        rehand = self.rehand_after is not None and self._rehand_allowed()
        with self._lock:
            for f in files:
                handed = self._handed.get(f.relative)
                if handed is not None and handed[0] == f.version:
                    at = self._handed_at.get(f.relative, now)
                    if not rehand or now - at < self.rehand_after:  # type: ignore[operator]
                        continue
                    del self._handed[f.relative]  # still here long after: hand it over again
                    self._handed_at.pop(f.relative, None)
                    self._log.warning("watcher.rehand", relative=f.relative, version=f.version)
                if f.relative not in self._candidates:
                    self._candidates[f.relative] = _Candidate(
                        f.path, f.relative, f.account, since=now, sig=(f.size, f.mtime_ns)
                    )
                    registered += 1
            # Forget hand-overs of files no longer there (or replaced by a newer
            # version) - only those made before the listing began, which it must show.
            for rel, (version, seq) in list(self._handed.items()):
                cur = present.get(rel)
                if seq <= seq_before and (cur is None or cur.version != version):
                    del self._handed[rel]
            waiting = len(self._candidates)
            newly_skipped = [e for e in walk.skipped if self._logged_skipped.get(e.relative) != e.kind]
            # only what this scan saw: an entry gone is forgotten, and named again if it returns
            self._logged_skipped = {e.relative: e.kind for e in walk.skipped}
        self._track_groups(walk.groups, now)
        self._resume_packings()
        for e in newly_skipped:
            self._log.warning("watcher.skipped", relative=e.relative, account=e.account, kind=e.kind, note=e.note)
        self._log.info("watcher.scan", files=len(files), new=registered, waiting=waiting)
        if self._on_scan is not None:
            try:
                self._on_scan()
            except Exception:
                self._log.exception("watcher.on_scan_failed")

    def _rehand_allowed(self) -> bool:
        if self._may_rehand is None:
            return True
        try:
            return self._may_rehand()
        except Exception:  # the queue unreachable: hand-overs would fail anyway
            self._log.warning("watcher.backlog_unknown", exc_info=True)
            return False

    # ------------------------------------------------------------------ poll

    def poll(self) -> list[InboxFile]:
        """Examine every candidate now; hand over (and return) those that became ready."""
        with self._poll_lock:
            self._group_step()
            with self._lock:
                items = list(self._candidates.items())
            ready: list[tuple[_Candidate, InboxFile]] = []
            for rel, cand in items:
                f = self._examine(rel, cand)
                if f is not None:
                    ready.append((cand, f))
            handed: list[InboxFile] = []
            for cand, f in ready:
                if cand.retry_at > self._clock():
                    continue  # backing off after failed hand-overs (Redis down, say)
                try:
                    self._on_ready(f)
                except Exception:
                    with self._lock:
                        cand.failures += 1
                        attempt = cand.failures
                        cand.retry_at = self._clock() + min(ENQUEUE_RETRY_MAX_SECONDS, 0.5 * 2 ** (attempt - 1))
                    self._log.exception(
                        "watcher.enqueue_failed",
                        relative=f.relative,
                        account=f.account,
                        size=f.size,
                        version=f.version,
                        attempt=attempt,
                    )
                    continue  # still a candidate: retried at the next poll
                with self._lock:
                    self._handed_seq += 1
                    self._handed[f.relative] = (f.version, self._handed_seq)
                    self._handed_at[f.relative] = self._clock()
                    if self._candidates.get(f.relative) is cand and cand.sig == (f.size, f.mtime_ns):
                        del self._candidates[f.relative]
                self._log.info(
                    "watcher.ready", relative=f.relative, account=f.account, size=f.size, version=f.version
                )
                handed.append(f)
            return handed

    # ------------------------------------------------------------------ folders, loose files

    def _track_groups(self, groups: list[Group], now: float) -> None:
        """Remember each group with the clock time since which it is unchanged."""
        fresh: list[Group] = []
        with self._lock:
            seen = {g.ident: g for g in groups}
            for ident in [i for i in self._groups if i not in seen]:
                del self._groups[ident]
            for g in groups:
                known = self._groups.get(g.ident)
                if known is None:
                    self._groups[g.ident] = _GroupCandidate(g, since=now)
                    fresh.append(g)
                elif known.group.signature != g.signature or g.busy:
                    known.group, known.since, known.failures, known.retry_at = g, now, 0, 0.0
                else:
                    known.group = g  # the same files: only last_change may differ
        for g in fresh:
            self._log.info("watcher.upload_waiting", relative=g.relative, account=g.account, kind=g.kind,
                           files=len(g.members), folder_quiet_period=self.folder_quiet_period)

    def _group_step(self) -> None:
        """Walk the inbox again when something outside the plain candidates moved (at most
        every GROUP_WALK_INTERVAL s), then pack every group quiet long enough."""
        now = self._clock()
        with self._lock:
            due = (self._group_dirty or bool(self._groups)) and now >= self._next_group_walk
            if due:
                self._group_dirty = False
                self._next_group_walk = now + GROUP_WALK_INTERVAL
        if due:
            walk = _walk(self.inbox, time.time(), self.stale_upload_timeout)
            with self._lock:
                for f in walk.candidates:  # ZIPs in subfolders, ZIP bytes under another name
                    handed = self._handed.get(f.relative)
                    if f.relative not in self._candidates and (handed is None or handed[0] != f.version):
                        self._candidates[f.relative] = _Candidate(f.path, f.relative, f.account, since=now,
                                                                  sig=(f.size, f.mtime_ns))
            self._track_groups(walk.groups, now)
        with self._lock:
            ready = [gc for gc in self._groups.values() if self._group_ready(gc, now)]
        for gc in ready:
            self._pack(gc, now)

    def _group_ready(self, gc: _GroupCandidate, now: float) -> bool:
        g = gc.group
        if g.busy or not g.members or gc.retry_at > now:
            return False
        wait = self.folder_quiet_period
        if any(m.size == 0 for m in g.members):  # an empty file may be an upload not begun
            wait = max(wait, self.empty_upload_wait)
        return now - gc.since >= wait

    def _pack(self, gc: _GroupCandidate, now: float) -> None:
        g = gc.group
        try:
            relative = self._packer.pack(g)
        except Exception as exc:
            with self._lock:
                gc.failures += 1
                gc.retry_at = now + min(ENQUEUE_RETRY_MAX_SECONDS, 2.0 ** gc.failures)
            self._log.exception("watcher.pack_failed", relative=g.relative, kind=g.kind, error=str(exc))
            return
        with self._lock:
            if self._groups.get(g.ident) is gc:
                del self._groups[g.ident]
            self._group_dirty = True
        if relative is not None:
            self._touch(str(self.inbox / relative), moved=True)  # complete: taken at once

    def _resume_packings(self) -> None:
        """Finish packings a crash (of this or another watcher) cut short."""
        try:
            published = self._packer.resume()
        except Exception as exc:
            self._log.exception("watcher.pack_failed", relative=PACKING_DIR, kind="resume", error=str(exc))
            return
        for relative in published:
            self._touch(str(self.inbox / relative), moved=True)

    def _drop(self, rel: str, cand: _Candidate, *, gone: bool) -> None:
        with self._lock:
            if self._candidates.get(rel) is cand:
                del self._candidates[rel]
            if gone:
                self._handed.pop(rel, None)

    def _examine(self, rel: str, cand: _Candidate) -> InboxFile | None:
        """Re-stat one candidate and decide; returns the file when it is ready."""
        sig = self._stat_sig(cand.path)
        if sig is None:
            self._drop(rel, cand, gone=True)  # vanished (claimed, deleted) or not a file
            return None
        look = self._settled(rel, cand, sig)
        if look is None:
            return None
        f, stable_for, status, moved_in = look
        if f.size == 0:
            return self._empty_file(rel, cand, f, stable_for, moved_in)
        if status is _UNKNOWN:
            status = self._read_zip_status(rel, cand, f, sig)
            if status is _UNKNOWN:
                return None
        if status is not False:  # complete ZIP, or not a ZIP at all: the reader decides
            return f
        return self._incomplete_zip(rel, cand, f, stable_for)

    def _settled(self, rel: str, cand: _Candidate,
                 sig: tuple[int, int]) -> tuple[InboxFile, float, bool | None | object, bool] | None:
        """(the file, seconds unchanged, its known ZIP status, renamed in) once it has been
        unchanged for the quiet period or was renamed in; None while it is still being
        written, or when this version was handed over already."""
        now = self._clock()
        with self._lock:
            if self._candidates.get(rel) is not cand:
                return None  # replaced or dropped meanwhile
            if cand.sig != sig:
                if cand.sig is not None:
                    cand.moved_in = False  # written after the rename
                    cand.failures = 0
                cand.sig = sig
                cand.since = now
                cand.zip_status = _UNKNOWN
                if not cand.moved_in:
                    return None
            f = InboxFile(cand.path, rel, cand.account, sig[0], sig[1])
            handed = self._handed.get(rel)
            if handed is not None and handed[0] == f.version:
                del self._candidates[rel]  # this version is done
                return None
            stable_for = now - cand.since
            moved_in = cand.moved_in
            status = cand.zip_status
        if not moved_in and stable_for < self.quiet_period:
            return None
        return f, stable_for, status, moved_in

    def _read_zip_status(self, rel: str, cand: _Candidate, f: InboxFile,
                         sig: tuple[int, int]) -> bool | None | object:
        """Whether the file ends like a complete ZIP (see ``zip_end_record_present``),
        remembered for this version; ``_UNKNOWN`` when it could not be read or changed
        while it was read (the next poll looks again)."""
        try:
            status = zip_end_record_present(cand.path)
        except (FileNotFoundError, NotADirectoryError):
            self._drop(rel, cand, gone=True)
            return _UNKNOWN
        except OSError as exc:
            with self._lock:
                first = cand.logged_unreadable != f.version
                cand.logged_unreadable = f.version
            if first:
                self._log.warning("watcher.unreadable", relative=rel, account=f.account, size=f.size, error=str(exc))
            return _UNKNOWN
        # The file may have changed while it was read: decide only on a stable read.
        if self._stat_sig(cand.path) != sig:
            return _UNKNOWN  # the next poll sees the new (size, mtime) and restarts
        with self._lock:
            if cand.sig == sig:
                cand.zip_status = status
        return status

    def _empty_file(self, rel: str, cand: _Candidate, f: InboxFile, stable_for: float,
                    moved_in: bool) -> InboxFile | None:
        """A 0-byte file: a client that created it but has not written yet, or an empty
        upload. It has no end record to wait for, so instead of the stale-upload timeout it
        waits ``empty_upload_wait`` (a rename means the writer is done: at once) and is then
        handed over (and rejected by the reader)."""
        if not moved_in and stable_for < self.empty_upload_wait:
            return None
        with self._lock:
            first = cand.logged_empty != f.version
            cand.logged_empty = f.version
        if first:  # not again while a failed hand-over is retried
            self._log.info("watcher.empty_file", relative=rel, account=f.account, version=f.version,
                           waited_s=round(stable_for, 1))
        return f

    def _incomplete_zip(self, rel: str, cand: _Candidate, f: InboxFile, stable_for: float) -> InboxFile | None:
        """A ZIP without its end record waits for its upload to resume, up to the
        stale-upload timeout; then it is handed over (and rejected as PKG_CORRUPT)."""
        if stable_for >= self.stale_upload_timeout:
            self._log.warning(
                "watcher.stale_incomplete_zip", relative=rel, account=f.account, size=f.size, version=f.version
            )
            return f
        with self._lock:
            first = cand.logged_waiting != f.version
            cand.logged_waiting = f.version
        if first:
            self._log.info(
                "watcher.waiting_incomplete_zip",
                relative=rel,
                account=f.account,
                size=f.size,
                version=f.version,
                stale_upload_timeout=self.stale_upload_timeout,
            )
        return None

    @staticmethod
    def _stat_sig(path: Path) -> tuple[int, int] | None:
        try:
            st = os.stat(path, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        return st.st_size, st.st_mtime_ns

    # ------------------------------------------------------------------ events

    def _on_event(self, event: FileSystemEvent) -> None:
        src = _fs(event.src_path)
        if event.is_directory:
            if isinstance(event, DirMovedEvent):
                if src:
                    self._forget_under(src)
                dest = _fs(event.dest_path)
                if dest:
                    self._register_tree(dest)
            elif isinstance(event, DirDeletedEvent):
                self._forget_under(src)
            elif isinstance(event, DirCreatedEvent):
                self._register_tree(src)
            return
        if isinstance(event, FileMovedEvent):
            if src:
                self._forget(src)
            dest = _fs(event.dest_path)
            if dest:
                self._touch(dest, moved=True)
        elif isinstance(event, FileDeletedEvent):
            self._forget(src)
        elif isinstance(event, FileClosedEvent):
            self._touch(src, closed=True)
        elif src:
            self._touch(src)  # created / modified / attrib: register or refresh

    def _touch(self, path: str, *, closed: bool = False, moved: bool = False) -> None:
        loc = _locate(self._root, path)
        if loc is None:
            return
        if not loc.in_scope or not is_archive_name(loc.relative.rpartition("/")[2]):
            # inside a folder below an account, or a loose file: the group walk sees it
            # (a loose file holding a ZIP's bytes is registered by that walk too)
            self._group_dirty = True
            return
        now = self._clock()
        sig = None
        if moved:
            sig = self._stat_sig(Path(path))
            if sig is None:
                return  # already gone again (or not a regular file)
        with self._lock:
            cand = self._candidates.get(loc.relative)
            if cand is None:
                cand = _Candidate(Path(path), loc.relative, loc.account, since=now)
                self._candidates[loc.relative] = cand
            if moved:
                if cand.sig != sig:
                    cand.zip_status = _UNKNOWN
                    cand.failures = 0
                cand.sig = sig
                cand.since = now
                cand.moved_in = True
            elif closed:
                cand.since = now  # written and closed: the quiet period starts over
                cand.moved_in = False

    def _forget(self, path: str) -> None:
        """A deletion / move-away hint: drop the path unless it is (again) there."""
        loc = _locate(self._root, path)
        if loc is None or not loc.in_scope:
            return
        if self._stat_sig(Path(path)) is not None:
            self._touch(path)  # a new file already took its place
            return
        with self._lock:
            self._candidates.pop(loc.relative, None)
            self._handed.pop(loc.relative, None)

    def _forget_under(self, dir_path: str) -> None:
        if dir_path.rstrip(os.sep) == self._root:
            return
        loc = _locate(self._root, os.path.join(dir_path, "x"))
        if loc is None:
            return
        prefix = loc.relative[: -len("x")]
        with self._lock:
            for rel in [r for r in self._candidates if r.startswith(prefix)]:
                cand = self._candidates[rel]
                if self._stat_sig(cand.path) is None:
                    del self._candidates[rel]
            for rel in [r for r in self._handed if r.startswith(prefix)]:
                if self._stat_sig(self.inbox / rel) is None:
                    del self._handed[rel]

    def _register_tree(self, dir_path: str) -> None:
        """A folder appeared (created or moved in): register what it already holds."""
        self._group_dirty = True
        loc = _locate(self._root, os.path.join(dir_path, "x"))
        if loc is None or not loc.in_scope:
            return  # deeper folders: folder uploads or ZIPs in a subfolder, found by the group walk
        for entry in _scandir(dir_path):
            if entry.is_file(follow_symlinks=False):
                self._touch(entry.path)
