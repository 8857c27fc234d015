"""Uploads that are not one ZIP file (issue 15): a folder uploaded instead of a ZIP, ZIPs
put in a subfolder, and loose files (a package's contents uploaded without their folder).

Every upload gets exactly one answer:

* **a folder** below an account (``inbox/<account>/<folder>/...``, any depth inside) is
  one upload once its whole tree has been quiet (no file's size or mtime changed, no
  in-progress name such as ``*.filepart`` younger than the stale-upload timeout) for the
  folder quiet period. It is packed into one ZIP with *stored* members (bytes kept
  exactly, UTF-8 names, the folder itself as the top folder inside, so a folder named
  机构名+日期 checks like a normal package) and that ZIP is decided like any upload;
* **a subfolder holding only ZIP files** (plus junk such as ``.DS_Store``, ``Thumbs.db``,
  ``__MACOSX``) is no folder upload: each ZIP in it is taken like one at account level,
  its location keeping the subfolder path;
* **loose files**: the files lying directly in an account folder (or the inbox's top
  level) that are no archive (not ``.zip``/``.rar``/``.7z``/split volumes…, by name or by
  their first bytes) are one upload action: once all of them have been quiet for the
  folder quiet period they are packed together into one ZIP, ``<account>散装文件<time>.zip``,
  members at its root (what the clerk uploaded). An archive-looking file keeps its own
  answer as before.

The packed ZIP's comment records how the upload came (:func:`pipeline.intake.uploads.
packed_comment`); the claim copies it into the document's ``source`` (``uploaded_as``,
``uploaded_name``, ``uploaded_files``), and the receipt says so.

**Crash safety.** Packing runs in a holder folder ``inbox/.pipeline-packing/<key>/`` (hidden:
never a candidate, never reported as skipped), ``key`` fixed by the group's signature:

1. ``intent.json`` is written (atomically): what is taken (kind, account, members);
2. the sources are renamed into ``src/`` (a folder in one rename; loose files one by one,
   each only if it is still the version the intent names);
3. the ZIP is written to a temporary name, fsynced, read back and verified (each member's
   SHA-256 against the file's), then renamed to ``package.zip``;
4. it is published: hard-linked into the account folder under a free name (a link never
   replaces an existing file), ``published`` written, ``package.zip`` unlinked;
5. the holder (the moved sources with it) is removed.

A restart (every scan looks at the holders) finishes whatever step was cut short: no
``package.zip`` and no ``published`` -> steps 2-5 again (the sources are still in
``src/``: nothing was deleted); ``package.zip`` linked elsewhere (more than one link) or
``published`` present -> only step 5; ``package.zip`` alone -> steps 4-5. The sources are
removed only after the ZIP holding them was verified and published, so a crash between
any two steps neither loses a byte nor gives two answers. A lock file per holder keeps
two watchers from packing the same group at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import stat as stat_mod
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from pipeline.check.contract import JUNK_FILE_NAMES, JUNK_FOLDER, JUNK_PREFIXES
from pipeline.check.files import fsync_dir, write_atomic
from pipeline.intake.faults import NO_FAULTS, FaultPoints
from pipeline.intake.uploads import IN_PROGRESS_SUFFIXES, packed_comment, readable

#: the default zone of names shown to people (the settings' PIPELINE_UTC_OFFSET_HOURS wins)
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))

__all__ = [
    "FOLDER_QUIET_PERIOD",
    "PACKING_DIR",
    "Group",
    "PackError",
    "Member",
    "Packer",
    "PackingState",
    "ZipEntry",
    "ARCHIVE_HEAD",
    "head_is_archive",
    "is_archive_name",
    "looks_like_archive",
    "write_stored_zip",
    "zip_digests",
]

#: seconds a folder or a set of loose files must stay unchanged before it is taken: longer
#: than a file's quiet period, since an SFTP client uploads a folder file by file
FOLDER_QUIET_PERIOD = 10.0

#: the holder of packings in progress, at the top level of the inbox (hidden)
PACKING_DIR = ".pipeline-packing"

#: names of archives by their suffix: such a file is never a loose file (it gets its own
#: answer: a ZIP is checked, anything else is PKG_NOT_ZIP)
_ARCHIVE_SUFFIXES = (".zip", ".rar", ".7z", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".tar", ".cab", ".exe")
_SPLIT_VOLUME = re.compile(r"\.(z\d{2,3}|\d{3})$", re.IGNORECASE)
#: (offset, bytes) an archive starts with (ZIP, spanning markers, RAR, 7z, gzip, bzip2,
#: xz, Zstandard, CAB, tar)
_ARCHIVE_MAGICS = ((0, b"PK\x03\x04"), (0, b"PK\x05\x06"), (0, b"PK\x07\x08"), (0, b"PK00"),
                   (0, b"Rar!\x1a\x07"), (0, b"7z\xbc\xaf\x27\x1c"), (0, b"\x1f\x8b"), (0, b"BZh"),
                   (0, b"\xfd7zXZ\x00"), (0, b"\x28\xb5\x2f\xfd"), (0, b"MSCF"), (257, b"ustar"))


def is_archive_name(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(_ARCHIVE_SUFFIXES) or bool(_SPLIT_VOLUME.search(lower))


def looks_like_archive(path: str | Path, name: str) -> bool:
    """An archive by its name or by its first bytes (a ZIP named ``材料`` is still one)."""
    if is_archive_name(name):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(ARCHIVE_HEAD)
    except OSError:
        return False
    return head_is_archive(head)


#: how many first bytes :func:`head_is_archive` looks at
ARCHIVE_HEAD = 264


def head_is_archive(head: bytes) -> bool:
    """Whether the first :data:`ARCHIVE_HEAD` bytes of a file are an archive's."""
    return any(head[at:at + len(magic)] == magic for at, magic in _ARCHIVE_MAGICS)


def is_junk(name: str) -> bool:
    lower = name.lower()
    return lower in JUNK_FILE_NAMES or name.startswith(JUNK_PREFIXES)


def is_busy_name(name: str) -> bool:
    """An upload in progress inside a folder or beside loose files (``*.filepart``...)."""
    return name.lower().endswith(IN_PROGRESS_SUFFIXES)


def final_name(name: str) -> str:
    """The name an in-progress upload will have (``x.zip.filepart`` -> ``x.zip``)."""
    lower = name.lower()
    for suffix in IN_PROGRESS_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


# --------------------------------------------------------------------------- groups


@dataclass(frozen=True)
class Member:
    relative: str  # inside the group: "理论/a.jpg" (folder) or "a.jpg" (loose)
    size: int
    mtime_ns: int


class UploadGroup:
    """What a folder upload or a set of loose files is called and weighs, wherever its
    members lie (a folder's files here, a bucket's objects in bucket_uploads.py); the
    dataclasses that inherit it hold ``kind``, ``relative`` and ``members``."""

    kind: str
    relative: str
    members: tuple[Any, ...]

    @property
    def name(self) -> str:
        """The folder's name ("" for loose files)."""
        return self.relative.rpartition("/")[2] if self.kind == "folder" else ""

    @property
    def ident(self) -> str:
        return f"{self.kind}:{self.relative}"

    @property
    def size(self) -> int:
        return sum(m.size for m in self.members)


@dataclass(frozen=True)
class Group(UploadGroup):
    """A folder upload or the loose files of one account folder, as seen now."""

    kind: str  # "folder" | "files"
    account: str  # "" at the top level
    relative: str  # the folder ("xinghuo/星火20261120") or where the loose files lie ("xinghuo", "")
    members: tuple[Member, ...]
    busy: bool  # an in-progress name, younger than the stale-upload timeout, inside or beside
    last_change: float  # newest mtime (epoch s) of the files and folders seen

    @property
    def signature(self) -> tuple[Any, ...]:
        return (self.busy, self.members)

    @property
    def key(self) -> str:
        return group_key(self.kind, self.relative, [[m.relative, m.size, m.mtime_ns] for m in self.members])


def group_key(kind: str, relative: str, members: list[list[Any]]) -> str:
    """A group's fixed key (its holder's, its lock's, its packed ZIP's marker): a digest of
    how it came, where, and every member's identity (name, size, mtime or ETag)."""
    raw = json.dumps([kind, relative, members], ensure_ascii=True)
    return hashlib.sha256(raw.encode("ascii")).hexdigest()[:20]


@dataclass
class FolderScan:
    """One folder below an account: either a folder upload, or ZIPs to take one by one."""

    group: Group | None = None
    zips: list[tuple[str, str, int, int]] = field(default_factory=list)  # (path, relative, size, mtime_ns)
    odd: list[tuple[str, str, float]] = field(default_factory=list)  # (relative, "symlink"|"not_a_file", mtime)


@dataclass
class _Tree:
    members: list[tuple[Member, str, bool]] = field(default_factory=list)  # (member, absolute path, junk)
    busy_finals: list[str] = field(default_factory=list)  # final names of young in-progress uploads
    odd: list[tuple[str, str, float]] = field(default_factory=list)
    last_change: float = 0.0


def _walk_tree(path: str, now: float, unfinished_after: float) -> _Tree | None:
    """Every regular file below ``path`` (never through a link), and what else is there."""
    tree = _Tree()
    try:
        tree.last_change = os.lstat(path).st_mtime
    except OSError:
        return None
    stack = [(path, "", False)]
    while stack:
        folder, inner, in_junk = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            rel = f"{inner}{entry.name}"
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            tree.last_change = max(tree.last_change, st.st_mtime)
            if stat_mod.S_ISDIR(st.st_mode):
                stack.append((entry.path, f"{rel}/", in_junk or entry.name.lower() == JUNK_FOLDER))
            elif stat_mod.S_ISLNK(st.st_mode) or not stat_mod.S_ISREG(st.st_mode):
                tree.odd.append((rel, "symlink" if stat_mod.S_ISLNK(st.st_mode) else "not_a_file", st.st_mtime))
            elif is_busy_name(entry.name) and now - st.st_mtime <= unfinished_after:
                tree.busy_finals.append(final_name(entry.name))
            else:
                tree.members.append((Member(rel, st.st_size, st.st_mtime_ns), entry.path,
                                     in_junk or is_junk(entry.name)))
    tree.members.sort(key=lambda t: t[0].relative)
    return tree


def tree_members(path: str) -> tuple[Member, ...]:
    """Every regular file below ``path``, whatever its name (what a packing takes)."""
    tree = _walk_tree(path, time.time(), -1.0)
    return tuple(m for m, _, _ in tree.members) if tree is not None else ()


def scan_folder(path: str, relative: str, account: str, now: float, unfinished_after: float) -> FolderScan:
    """Walk the folder ``path`` (inbox-relative ``relative``) without following links."""
    out = FolderScan()
    tree = _walk_tree(path, now, unfinished_after)
    if tree is None:
        return out
    out.odd = [(f"{relative}/{rel}", kind, mtime) for rel, kind, mtime in tree.odd]
    finals = [m.relative.rpartition("/")[2] for m, _, junk in tree.members if not junk] + tree.busy_finals
    if not finals:
        return out  # empty, or junk only: nothing was uploaded (yet)
    if all(n.lower().endswith(".zip") for n in finals):
        # ZIPs put in a subfolder: each taken like one at account level (junk stays)
        out.zips = [(p, f"{relative}/{m.relative}", m.size, m.mtime_ns) for m, p, junk in tree.members if not junk]
        return out
    out.group = Group("folder", account, relative, tuple(m for m, _, _ in tree.members),
                      bool(tree.busy_finals), tree.last_change)
    return out


# --------------------------------------------------------------------------- packing


@dataclass(frozen=True)
class PackingState:
    """A packing under way (or cut short by a crash) in the holder, for ``pipeline status``."""

    key: str
    kind: str
    account: str
    relative: str
    files: int
    since: float  # when the packing began (epoch s)


class PackError(RuntimeError):
    """Packing could not be completed now (the sources are kept; it is tried again)."""


_ZIP_EPOCH = 315532800  # 1980-01-01: the earliest date a ZIP entry can hold


def _zip_time(mtime_ns: int) -> tuple[int, int, int, int, int, int]:
    seconds = min(max(mtime_ns // 1_000_000_000, _ZIP_EPOCH), 4354819199)  # 1980 .. 2107
    return time.localtime(seconds)[:6]


@dataclass(frozen=True)
class ZipEntry:
    """One member of a packed ZIP: its name inside, its date, and its bytes as chunks
    (``chunks()`` is a context manager yielding an iterator of bytes: a file read in 1 MiB
    blocks, or an object streamed from S3)."""

    arcname: str
    mtime_ns: int
    chunks: Callable[[], AbstractContextManager[Iterator[bytes]]]


def _file_chunks(path: Path) -> Callable[[], AbstractContextManager[Iterator[bytes]]]:
    @contextmanager
    def opened() -> Iterator[Iterator[bytes]]:
        with open(path, "rb") as fh:
            yield iter(lambda: fh.read(1 << 20), b"")
    return opened


def write_stored_zip(target: Path, entries: Iterable[ZipEntry], comment: bytes) -> list[tuple[str, str]]:
    """Write ``entries`` as a ZIP of *stored* members (bytes kept exactly, UTF-8 names,
    ZIP64 where needed) to ``target``, fsync it, read it back and check that each member
    holds exactly the bytes that were read (SHA-256). Returns (name, SHA-256) of each
    member; raises :class:`PackError` (``target`` removed) when the read-back differs.
    Memory stays bounded: members are streamed in blocks. Shared by the folder packer
    here and the bucket packer (pipeline/intake/bucket_uploads.py)."""
    digests: list[tuple[str, str]] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for entry in entries:
            info = zipfile.ZipInfo(entry.arcname, date_time=_zip_time(entry.mtime_ns))
            info.external_attr = 0o100644 << 16
            info.flag_bits |= 0x800  # UTF-8 name
            digest = hashlib.sha256()
            with entry.chunks() as chunks, zf.open(info, "w", force_zip64=True) as fout:
                for block in chunks:
                    digest.update(block)
                    fout.write(block)
            digests.append((entry.arcname, digest.hexdigest()))
        zf.comment = comment
    with open(target, "rb+") as fh:
        os.fsync(fh.fileno())
    if zip_digests(target) != digests:  # read back: the ZIP holds exactly what was read
        target.unlink(missing_ok=True)
        raise PackError(f"{target.name} does not read back as the bytes packed into it")
    return digests


def zip_digests(path: Path) -> list[tuple[str, str]]:
    """(name, SHA-256) of every member of the ZIP at ``path``, in order, streaming."""
    out = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            digest = hashlib.sha256()
            with zf.open(info) as member:
                while block := member.read(1 << 20):
                    digest.update(block)
            out.append((info.filename, digest.hexdigest()))
    return out


class Packer:
    """Packs groups (see the module docstring), crash-safe, and finishes cut-short ones."""

    def __init__(self, inbox: Path, logger: Any, faults: FaultPoints = NO_FAULTS,
                 zone: tzinfo = CHINA_STANDARD_TIME) -> None:
        self.inbox = Path(inbox)
        #: the zone of the time in a loose-files ZIP's name (the configured one: shown to people)
        self.zone = zone
        self.root = self.inbox / PACKING_DIR
        self._log = logger
        self._faults = faults  # the reliability tests' crash points (pipeline/intake/faults.py)

    # -- the holder -------------------------------------------------------------------------
    @contextmanager
    def _locked(self, key: str) -> Iterator[bool]:
        self.root.mkdir(exist_ok=True)
        lock = self.root / f"{key}.lock"
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False  # another watcher packs it right now
                return
            try:
                yield True
            finally:
                if not (self.root / key).exists():
                    lock.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def states(self) -> list[PackingState]:
        out = []
        for holder in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            intent = self._intent(holder)
            if intent is not None:
                out.append(PackingState(holder.name, intent["kind"], intent["account"], intent["relative"],
                                        len(intent["members"]), float(intent["created"])))
        return out

    @staticmethod
    def _intent(holder: Path) -> dict[str, Any] | None:
        try:
            return json.loads((holder / "intent.json").read_text(encoding="ascii"))
        except (OSError, ValueError):
            return None

    # -- the steps --------------------------------------------------------------------------
    def pack(self, group: Group) -> str | None:
        """Take ``group`` out of the inbox and publish it as one ZIP; returns the ZIP's
        inbox-relative path, or None when nothing was taken (gone, changed, or another
        watcher has it)."""
        key = group.key
        with self._locked(key) as mine:
            if not mine:
                return None
            holder = self.root / key
            if self._intent(holder) is None:
                holder.mkdir(parents=True, exist_ok=True)
                intent = {"kind": group.kind, "account": group.account, "relative": group.relative,
                          "created": time.time(),
                          "members": [[m.relative, m.size, m.mtime_ns] for m in group.members]}
                write_atomic(holder / "intent.json", json.dumps(intent, ensure_ascii=True).encode("ascii"))
                fsync_dir(holder)
            return self._finish(holder)

    def resume(self) -> list[str]:
        """Finish every packing a crash cut short; returns the ZIPs published."""
        published = []
        for holder in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if not holder.is_dir():
                continue
            with self._locked(holder.name) as mine:
                if not mine:
                    continue
                if self._intent(holder) is None:  # cut short before its intent: nothing was moved
                    shutil.rmtree(holder, ignore_errors=True)
                    continue
                self._log.info("watcher.pack_resumed", key=holder.name)
                relative = self._finish(holder)
                if relative is not None:
                    published.append(relative)
        return published

    def _finish(self, holder: Path) -> str | None:
        intent = self._intent(holder)
        assert intent is not None
        package = holder / "package.zip"
        published = holder / "published"
        if published.exists() or (package.exists() and package.stat().st_nlink > 1):
            self._cleanup(holder)  # published before a crash
            return None
        if not package.exists():
            if not self._take(holder, intent):
                self._log.warning("watcher.pack_abandoned", relative=intent["relative"], kind=intent["kind"],
                                  reason="the upload changed or vanished while it was taken; it is looked at again")
                self._cleanup(holder)
                return None
            self._faults.hit("pack_after_take", intent["relative"])
            self._write_zip(holder, intent)
            self._faults.hit("pack_after_zip", intent["relative"])
        relative = self._publish(holder, intent)
        self._log.info("watcher.packed", relative=intent["relative"], kind=intent["kind"],
                       files=len(intent["members"]), size=package_size(self.inbox / relative), zip=relative)
        self._faults.hit("pack_before_cleanup", intent["relative"])
        self._cleanup(holder)
        return relative

    def _level(self, intent: dict[str, Any]) -> Path:
        """The folder the published ZIP goes to: the account folder (the top level)."""
        return self.inbox / intent["account"] if intent["account"] else self.inbox

    def _take(self, holder: Path, intent: dict[str, Any]) -> bool:
        """Step 2: move the sources into ``src/``; False when nothing (or, for a folder,
        not the version the intent names) could be taken: the holder is then dropped and
        whatever is still in the inbox is looked at again."""
        src = holder / "src"
        src.mkdir(exist_ok=True)
        members = [Member(r, s, m) for r, s, m in intent["members"]]
        if intent["kind"] == "folder":
            source = self.inbox / intent["relative"]
            moved = src / source.name
            if not moved.exists():
                try:
                    if not stat_mod.S_ISDIR(os.lstat(source).st_mode):
                        return False
                    os.rename(source, moved)
                except FileNotFoundError:
                    return False
                fsync_dir(src)
                fsync_dir(source.parent)
            found = tree_members(str(moved))
            if found != tuple(members):
                if not source.exists():  # changed while taken: give it back, to be taken when quiet
                    os.rename(moved, source)
                    fsync_dir(source.parent)
                    return False
                # a new folder of that name appeared meanwhile: what was taken is the upload
                intent["members"] = [[m.relative, m.size, m.mtime_ns] for m in found]
                write_atomic(holder / "intent.json", json.dumps(intent, ensure_ascii=True).encode("ascii"))
            return bool(found)
        level = self._level(intent)
        for m in members:
            source, moved = level / m.relative, src / m.relative
            if moved.exists():
                continue
            try:
                st = os.lstat(source)
            except FileNotFoundError:
                continue
            if stat_mod.S_ISREG(st.st_mode) and (st.st_size, st.st_mtime_ns) == (m.size, m.mtime_ns):
                os.rename(source, moved)  # a newer version stays: it is a later upload
        fsync_dir(src)
        fsync_dir(level)
        taken = [m for m in members if (src / m.relative).exists()]
        if not taken:
            return False
        if len(taken) != len(members):  # what was taken is the upload: the intent says so
            intent["members"] = [[m.relative, m.size, m.mtime_ns] for m in taken]
            write_atomic(holder / "intent.json", json.dumps(intent, ensure_ascii=True).encode("ascii"))
        return True

    def _files(self, holder: Path, intent: dict[str, Any]) -> list[tuple[str, Path, int]]:
        """(name in the ZIP, file, mtime_ns) of every member, sorted."""
        src = holder / "src"
        if intent["kind"] == "folder":
            folder = src / Path(intent["relative"]).name
            top = readable(folder.name)
            return [(f"{top}/{readable(r)}", folder / r, m) for r, _, m in sorted(intent["members"])]
        return [(readable(r), src / r, m) for r, _, m in sorted(intent["members"])]

    def _write_zip(self, holder: Path, intent: dict[str, Any]) -> None:
        """Step 3: the stored ZIP, fsynced, read back and verified, then ``package.zip``."""
        files = self._files(holder, intent)
        name = readable(Path(intent["relative"]).name) if intent["kind"] == "folder" else ""
        tmp = holder / f".package.zip.{os.getpid()}.tmp"
        entries = [ZipEntry(arcname, mtime_ns, _file_chunks(path)) for arcname, path, mtime_ns in files]
        try:
            write_stored_zip(tmp, entries, packed_comment(intent["kind"], name, len(files)))
        except PackError:
            raise PackError(f"the packed ZIP of {intent['relative']!r} does not read back as its files") from None
        os.rename(tmp, holder / "package.zip")
        fsync_dir(holder)

    def _publish(self, holder: Path, intent: dict[str, Any]) -> str:
        """Step 4: link ``package.zip`` into the account folder under a free name."""
        level = self._level(intent)
        if intent["kind"] == "folder":
            base = Path(intent["relative"]).name
            stem, suffix = (base[:-4], base[-4:]) if base.lower().endswith(".zip") else (base, ".zip")
        else:
            stamp = datetime.fromtimestamp(float(intent["created"]), self.zone).strftime("%Y%m%d-%H%M%S")
            stem, suffix = f"{intent['account']}散装文件{stamp}", ".zip"
        package = holder / "package.zip"
        for n in range(1, 1000):
            name = f"{stem}{suffix}" if n == 1 else f"{stem}（{n}）{suffix}"
            try:
                os.link(package, level / name)
            except FileExistsError:
                continue
            fsync_dir(level)
            self._faults.hit("pack_after_link", intent["relative"])
            write_atomic(holder / "published", name.encode("utf-8", "surrogateescape"))
            package.unlink()
            fsync_dir(holder)
            return f"{intent['account']}/{name}" if intent["account"] else name
        raise PackError(f"no free name for the packed ZIP of {intent['relative']!r}")

    def _cleanup(self, holder: Path) -> None:
        """Step 5: the holder goes, with the sources (now in a published, verified ZIP, or
        given back). The intent first: a holder without one is only ever removed."""
        (holder / "intent.json").unlink(missing_ok=True)
        fsync_dir(holder)
        shutil.rmtree(holder, ignore_errors=True)
        if holder.exists():
            raise PackError(f"could not remove {holder}")


def package_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
