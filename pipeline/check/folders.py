"""A folder checked as if it were zipped: what an institution's zipper would make of it.

``pipeline check DIR`` (and an inbox folder uploaded instead of a ZIP) is packed into a
stored ZIP whose single top folder is the folder itself, entries in sorted order with
UTF-8 names, so that the checks see exactly the layout the institution will upload once
it compresses the folder. Media are stored (not deflated): packing costs one read and
one write of each file, streamed. Links and special files are left out (a zipper that
follows them would pack whatever they point at; the checks must never read outside the
folder).
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

#: the date stored for every entry (fixed, so the same folder packs to the same bytes)
_ENTRY_TIME = (2026, 1, 1, 0, 0, 0)


def zip_folder(folder: Path, target: Path) -> Path:
    """Pack ``folder`` into the ZIP ``target`` (created; its parent must exist), entries
    ``<folder name>/<path>``; returns ``target``."""
    root = folder.name
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for relative in _files(folder):
            info = zipfile.ZipInfo(f"{root}/{relative}", date_time=_ENTRY_TIME)
            info.external_attr = 0o100644 << 16
            info.flag_bits |= 0x800  # the name is UTF-8
            with open(folder / relative, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
    return target


def _files(folder: Path) -> list[str]:
    """Regular files below ``folder`` ("/"-separated, sorted), never through a link."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(filenames):
            st = os.lstat(base / name)
            if stat.S_ISREG(st.st_mode):
                found.append((base / name).relative_to(folder).as_posix())
    return sorted(found)
