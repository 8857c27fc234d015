"""The reader on archives as real tools write them (issue 13; docs/zip-tools.md).

Each test crafts, byte for byte, the traits of archives that real tools wrote and that
other ZIP implementations keep in their test suites (named in each test: Go's
``archive/zip/testdata``, Apache Commons Compress, libzip's ``regress``, zip-rs, yauzl).
The real files were run through the reader while writing this (docs/zip-tools.md lists
them with their verdicts); the files themselves are not shipped, their traits are.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from pipeline.check.catalogue import CATALOGUE
from pipeline.check.package_reader import (
    PackageContents,
    read_package,
    zip_end_record_present,
)
from pipeline.check.policy import load_policy
from tests.support import zipcraft as zc
from tests.support.reading import ROOT, assert_well_formed, codes, make_zip, read

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8


def read_named(tmp_path: Path, data: bytes, package_name: str) -> PackageContents:
    """:func:`read` for an upload named ``package_name``."""
    zip_path = tmp_path / "package.zip"  # the claimed copy's name, not the upload's
    zip_path.write_bytes(data)
    result = read_package(zip_path, tmp_path / "work", load_policy().zip, package_name=package_name)
    assert_well_formed(result.problems)
    return result


# ---------------------------------------------------------------------------------------
# "version needed to extract": the low byte is the version (APPNOTE 4.4.3)


@pytest.mark.parametrize("version", [
    0x030A,  # 7-Zip (p7zip) on Linux, stored: zip-rs linux-7z.zip, libzip test_open_multiple.zip
    0x0314,  # deflated, host byte 3: Commons Compress password-encrypted.zip (unencrypted here)
    0x0014,  # what Windows, Info-ZIP, Java and .NET write
    0x003F,  # 6.3, the newest version the reader takes
])
def test_version_needed_is_judged_by_its_low_byte(tmp_path: Path, version: int) -> None:
    entries = [zc.stored(f"{ROOT}/a.txt", b"a", extract_version=version),
               zc.deflated(f"{ROOT}/b.jpg", JPEG, extract_version=version)]
    result = read(tmp_path, zc.build(entries))
    assert result.problems == ()
    assert [f.path for f in result.files] == [f"{ROOT}/a.txt", f"{ROOT}/b.jpg"]


@pytest.mark.parametrize("version", [0x0040, 0x0340, 0x00FF])
def test_a_newer_version_than_6_3_is_still_refused(tmp_path: Path, version: int) -> None:
    result = read(tmp_path, zc.build([zc.stored(f"{ROOT}/a.txt", b"a", extract_version=version)]))
    assert codes(result) == ["PKG_LIMIT"]
    p = result.problems[0]
    assert (p.params["fault"], p.params["version"]) == ("zip_feature", version & 0xFF)
    assert p.hint == CATALOGUE["PKG_LIMIT"].causes["zip_feature"].hint


# ---------------------------------------------------------------------------------------
# "\" as the path separator of archives made on Windows


def test_powershell_5_compress_archive_backslashes_are_separators(tmp_path: Path) -> None:
    """Windows PowerShell 5.1's Compress-Archive (module 1.0.1.0) and .NET Framework
    before 4.6.1 name entries with "\\" and mark them made on MS-DOS/Windows (host 0);
    an empty folder is an entry ending with "\\"."""
    names = {f"{ROOT}\\培训方案.json": b"{}", f"{ROOT}\\育婴师初级\\理论\\育婴师初级理论1.jpg": JPEG}
    entries = [zc.deflated(n, c, create_system=zc.SYSTEM_DOS, external_attr=0) for n, c in names.items()]
    entries.append(zc.directory(f"{ROOT}\\空文件夹\\", create_system=zc.SYSTEM_DOS, external_attr=0x10))
    result = read(tmp_path, zc.build(entries))
    assert result.problems == ()
    assert [f.path for f in result.files] == [f"{ROOT}/培训方案.json", f"{ROOT}/育婴师初级/理论/育婴师初级理论1.jpg"]
    assert result.ignored == (f"{ROOT}/空文件夹/",)
    assert result.directories == (ROOT, f"{ROOT}/育婴师初级", f"{ROOT}/育婴师初级/理论")


@pytest.mark.parametrize("system", [0, 6, 10, 11, 14])
def test_every_windows_host_reads_backslashes(tmp_path: Path, system: int) -> None:
    """MS-DOS/Windows FAT, OS/2 HPFS, NTFS, "MVS" (11: Windows XP's compressed folders
    and WinZip write it, Go's winxp.zip), VFAT."""
    result = read(tmp_path, zc.build([zc.stored(b"a\\b.txt", b"x", flags=0, create_system=system)]))
    assert result.problems == () and [f.path for f in result.files] == ["a/b.txt"]


def test_gbk_names_with_backslashes_from_chinese_windows(tmp_path: Path) -> None:
    """GBK names without the UTF-8 flag (Chinese Windows' code page) and "\\": both
    decoded; a GBK trail byte 0x5C inside a character is not a separator."""
    folder = "培训机构"
    names = [f"{folder}\\乗务.txt", f"{folder}\\子目录\\照片.jpg"]
    assert "乗".encode("gbk") == b"\x81\\"  # a GBK character ending with the byte 0x5C
    entries = [zc.stored(n.encode("gbk"), b"x", flags=0, create_system=zc.SYSTEM_NTFS) for n in names]
    result = read(tmp_path, zc.build(entries))
    assert result.problems == () and result.name_encoding == "gb18030"
    assert [f.path for f in result.files] == [f"{folder}/乗务.txt", f"{folder}/子目录/照片.jpg"]


def test_winzip_unicode_path_field_with_backslashes(tmp_path: Path) -> None:
    """WinZip writes "/" in the header name (CP437) but "\\" in the Info-ZIP Unicode Path
    field (Commons Compress test-winzip.zip: ``ä\\ü.txt``)."""
    header = b"\x84/\x81.txt"
    entry = zc.stored(header, b"x", flags=0, create_system=zc.SYSTEM_DOS, external_attr=0,
                      extra=zc.unicode_path_extra(header, "ä\\ü.txt"))
    result = read(tmp_path, zc.build([entry]))
    assert result.problems == ()
    assert [f.path for f in result.files] == ["ä/ü.txt"]


@pytest.mark.parametrize(("name", "fault"), [
    (b"..\\..\\evil.txt", "parent_segment"),
    (b"a\\..\\..\\evil.txt", "parent_segment"),
    (b"C:\\Windows\\evil.txt", "drive"),
    (b"\\evil.txt", "absolute"),
    (b"\\\\server\\share\\evil.txt", "absolute"),
    (b"a\\\\b.txt", "empty_segment"),
    (b"a\\.\\b.txt", "dot_segment"),
    (b"a\\b\x1b.txt", "control_character"),
])
def test_backslash_tricks_from_windows_stay_unsafe(tmp_path: Path, name: bytes, fault: str) -> None:
    """The separator is read, then the path is judged like any other."""
    entries = [zc.stored("ok.txt", b"ok", create_system=zc.SYSTEM_DOS),
               zc.stored(name, b"evil", flags=0, create_system=zc.SYSTEM_DOS)]
    result = read(tmp_path, zc.build(entries))
    assert codes(result) == ["PKG_UNSAFE_PATH"]
    assert fault in result.problems[0].params["faults"]
    assert "backslash" not in result.problems[0].params["faults"]


@pytest.mark.parametrize("system", [zc.SYSTEM_UNIX, zc.SYSTEM_MACOS])
def test_backslash_in_a_name_made_elsewhere_stays_unsafe(tmp_path: Path, system: int) -> None:
    """On Unix "\\" is a character of the name: Windows would read another path."""
    result = read(tmp_path, zc.build([zc.stored(b"a\\b.txt", b"x", flags=0, create_system=system)]))
    assert codes(result) == ["PKG_UNSAFE_PATH"]
    assert result.problems[0].params["faults"] == ["backslash"]


def test_both_separators_naming_one_file_are_duplicates(tmp_path: Path) -> None:
    entries = [zc.stored("a/b.txt", b"1", create_system=zc.SYSTEM_DOS),
               zc.stored("a\\B.txt", b"2", create_system=zc.SYSTEM_DOS)]
    result = read(tmp_path, zc.build(entries))
    assert codes(result) == ["PKG_DUPLICATE_ENTRY"]
    assert (result.problems[0].params["name"], result.problems[0].params["other"]) == ("a/b.txt", "a/B.txt")


# ---------------------------------------------------------------------------------------
# volumes of split archives: one problem, "make one whole ZIP"


def _assert_split_volume(result: PackageContents, detected: str) -> None:
    assert codes(result) == ["PKG_NOT_ZIP"]
    p = result.problems[0]
    assert p.params["fault"] == "split_volume" and p.params["detected"] == detected
    assert "分卷压缩包中的一卷" in p.message and detected in p.message
    assert "分卷" in (p.hint or "") and "一个完整的 ZIP" in (p.hint or "")
    assert "损坏" not in p.message + (p.hint or "")


SPLIT = [zc.stored(f"{ROOT}/a.jpg", os.urandom(3000)), zc.stored(f"{ROOT}/b.jpg", os.urandom(3000))]


def test_first_volume_of_a_split_archive(tmp_path: Path) -> None:
    """x.z01 of WinRAR or Info-ZIP ``zip -s`` (Commons Compress COMPRESS-477): the
    spanning marker, then local headers, and no end record."""
    first, _ = zc.split_volumes(SPLIT, 4000)
    assert first.startswith(b"PK\x07\x08PK\x03\x04")
    _assert_split_volume(read(tmp_path, first), "第 1 卷")
    _assert_split_volume(read_named(tmp_path, first, "材料.z01"), "第 1 卷")


def test_last_volume_of_a_split_archive(tmp_path: Path) -> None:
    """x.zip, the last volume: its first bytes continue the previous volume's data, its
    end record names disk 1 (COMPRESS-477's split_zip_created_by_winrar.zip: disk 2)."""
    _, last = zc.split_volumes(SPLIT, 4000)
    _assert_split_volume(read(tmp_path, last), "共 2 卷中的最后一卷")
    assert read(tmp_path, last).problems[0].params["volumes"] == 2


def test_end_record_naming_another_disk_in_a_file_starting_like_a_zip(tmp_path: Path) -> None:
    """libzip's multidisk.zip and yauzl's "multi-disk ... disk number 1": the whole
    archive in one file, its end record on disk 1 and its directory too."""
    _assert_split_volume(read(tmp_path, zc.build(SPLIT, disk=1)), "共 2 卷中的最后一卷")


def test_zip64_locator_of_several_disks(tmp_path: Path) -> None:
    data = zc.build([zc.replace(e, force_zip64=True) for e in SPLIT], zip64=True, disk=2, zip64_disks=3)
    _assert_split_volume(read(tmp_path, data), "共 3 卷中的最后一卷")


@pytest.mark.parametrize("name", ["材料.z02", "材料.Z03", "材料.zip.002", "材料.003"])
def test_middle_volume_is_known_by_its_name(tmp_path: Path, name: str) -> None:
    """A middle volume is data and nothing else: only its name says what it is."""
    data = os.urandom(5000)
    _assert_split_volume(read_named(tmp_path, data, name), f"文件名以“{name[name.rindex('.'):]}”结尾")
    assert read_named(tmp_path, data, "材料.zip").problems[0].params["detected"] == "未知格式"


def test_first_byte_volume_of_a_zip_split_by_7zip(tmp_path: Path) -> None:
    """7-Zip's "split to volumes" of a finished ZIP (x.zip.001, Commons Compress
    apache-maven-2.2.1.zip.001): an ordinary ZIP's first bytes, no marker, no end."""
    data = zc.build(SPLIT)[:4000]
    _assert_split_volume(read_named(tmp_path, data, "材料.zip.001"), "文件名以“.001”结尾")
    result = read_named(tmp_path, data, "材料.zip")  # the same bytes uploaded as x.zip: cut short
    assert codes(result) == ["PKG_CORRUPT"] and result.problems[0].params["fault"] == "no_end_record"


def test_a_whole_archive_is_read_whatever_its_name(tmp_path: Path) -> None:
    """7-Zip names even a single volume x.zip.001: a name never rejects a readable ZIP."""
    result = read_named(tmp_path, zc.build(SPLIT), "材料.zip.001")
    assert result.problems == () and len(result.files) == 2


@pytest.mark.parametrize("marker", [zc.SPANNING_MARKER_OLD, zc.SPANNING_MARKER])
def test_split_archive_of_one_volume_is_a_whole_archive(tmp_path: Path, marker: bytes) -> None:
    """APPNOTE 8.5.4: a "split" archive that needed one volume starts with PK00 (or
    keeps PK\\x07\\x08); its end record is on disk 0 (Commons Compress COMPRESS-208.zip)."""
    result = read(tmp_path, zc.build(SPLIT, prefix=marker))
    assert result.problems == ()
    assert sorted(f.path for f in result.files) == [f"{ROOT}/a.jpg", f"{ROOT}/b.jpg"]


# ---------------------------------------------------------------------------------------
# encryption: one problem for the archive


def test_encrypted_archive_is_one_problem_naming_a_few_files(tmp_path: Path) -> None:
    entries = [zc.stored(f"{ROOT}/{n}.jpg", os.urandom(40), flags=zc.FLAG_ENCRYPTED | zc.FLAG_UTF8)
               for n in range(1, 11)]
    entries.append(zc.stored(f"{ROOT}/说明.txt", b"plain"))
    result = read(tmp_path, zc.build(entries))
    assert codes(result) == ["PKG_ENCRYPTED"]
    p = result.problems[0]
    assert p.path == "" and p.params["count"] == 10
    assert p.params["names"] == [f"{ROOT}/1.jpg", f"{ROOT}/2.jpg", f"{ROOT}/3.jpg"]
    assert p.message == (f"压缩包中的文件“{ROOT}/1.jpg”、“{ROOT}/2.jpg”、“{ROOT}/3.jpg”等 10 个文件"
                         "设置了密码，无法检查。")


def test_an_encrypted_file_named_twice_is_named_once(tmp_path: Path) -> None:
    entry = zc.stored(f"{ROOT}/a.jpg", os.urandom(40), flags=zc.FLAG_ENCRYPTED | zc.FLAG_UTF8)
    result = read(tmp_path, zc.build([entry, entry]))
    encrypted = [p for p in result.problems if p.code == "PKG_ENCRYPTED"]
    assert len(encrypted) == 1 and encrypted[0].params["count"] == 1
    assert encrypted[0].message == f"压缩包中的文件“{ROOT}/a.jpg”设置了密码，无法检查。"
    assert encrypted[0].path == f"{ROOT}/a.jpg"


def test_winzip_aes_entries_are_encrypted_not_an_unknown_method(tmp_path: Path) -> None:
    """WinZip AES (method 99, extra field 0x9901, version needed 0x0333: zip-rs
    aes_archive.zip): one PKG_ENCRYPTED, no PKG_LIMIT for the method or the version."""
    aes_extra = struct.pack("<HHHH2sBH", 0x9901, 7, 2, 0x4541, b"AE", 3, 8)
    entries = [zc.Entry(name=f"{ROOT}/{n}".encode(), data=os.urandom(50), crc=0, file_size=26,
                        method=99, flags=flags, extra=aes_extra, extract_version=0x0333)
               for n, flags in (("a", zc.FLAG_ENCRYPTED), ("b", 0))]  # AES is a password, flag or not
    result = read(tmp_path, zc.build(entries))
    assert codes(result) == ["PKG_ENCRYPTED"]
    assert result.problems[0].params["count"] == 2


# ---------------------------------------------------------------------------------------
# the hint follows the cause


def test_unsupported_method_hint_says_how_to_recompress(tmp_path: Path) -> None:
    entry = zc.Entry(name=b"a/x.txt", data=b"\x00" * 10, crc=zlib.crc32(b"x"), file_size=1, method=12)
    p = read(tmp_path, zc.build([entry])).problems[0]
    assert p.params["fault"] == "method"
    assert "Deflate" in (p.hint or "") and "嵌套" not in (p.hint or "")
    assert "请" not in p.message  # what is wrong; how to fix it is the hint's


def test_nested_archive_hint_says_to_unpack_it(tmp_path: Path) -> None:
    p = read(tmp_path, make_zip({"a/inner.zip": b"x", "a/b.txt": b"x"})).problems[0]
    assert p.params["fault"] == "nested_archive" and "解压" in (p.hint or "")


# ---------------------------------------------------------------------------------------
# neighbours from other implementations' test suites


def test_last_valid_unicode_path_field_wins(tmp_path: Path) -> None:
    """yauzl's unicode-path-extra-field.zip: four 0x7075 fields, the first with an empty
    name, the last the real one; the header name is control characters."""
    header = bytes(range(16))
    extra = (zc.unicode_path_extra(header, "")
             + zc.unicode_path_extra(header, "旧名.txt")  # an updating tool appends the new name
             + zc.unicode_path_extra(header, "错", crc=zlib.crc32(b"other"))
             + zc.unicode_path_extra(header, "七个房间.txt"))
    result = read(tmp_path, zc.build([zc.stored(header, b"x", flags=zc.FLAG_UTF8, extra=extra)]))
    assert result.problems == ()
    assert [f.path for f in result.files] == ["七个房间.txt"]


def test_archive_comment_holding_another_archive(tmp_path: Path) -> None:
    """libzip's zip-in-archive-comment.zip: the comment is a whole ZIP, end record
    included; the outer archive is the one whose directory fits."""
    inner = zc.build([zc.stored("inner.txt", b"inner")])
    result = read(tmp_path, zc.build([zc.stored(f"{ROOT}/a.txt", b"a")], comment=inner))
    assert result.problems == ()
    assert [f.path for f in result.files] == [f"{ROOT}/a.txt"]


def test_zip64_locator_magic_inside_the_last_name(tmp_path: Path) -> None:
    """zip-rs zip64_magic_in_filename_*.zip: the bytes before the end record look like a
    ZIP64 locator because the last name holds them; no ZIP64 record is needed. The
    archive is read (and the name, with its control characters, judged unsafe)."""
    name = b"PK\x06\x06" + bytes(52) + b"PK\x06\x07" + bytes(16)
    result = read(tmp_path, zc.build([zc.stored(f"{ROOT}/a.txt", b"a"), zc.stored(name, b"b")]))
    assert codes(result) == ["PKG_UNSAFE_PATH"]
    assert result.problems[0].params["faults"] == ["control_character"]


def test_the_watcher_takes_such_an_archive_as_complete(tmp_path: Path) -> None:
    """The upload watcher shares the end-record rule: locator-like bytes in a name do not
    make a finished upload look unfinished."""
    name = b"PK\x06\x06" + bytes(52) + b"PK\x06\x07" + bytes(16)
    path = zc.write(tmp_path / "a.zip", zc.build([zc.stored("a.txt", b"a"), zc.stored(name, b"b")]))
    assert zip_end_record_present(path) is True


def test_zip_behind_other_bytes_is_named_for_what_it_is(tmp_path: Path) -> None:
    """Go's test-prefix.zip, Commons Compress COMPRESS-621.zip, libzip junk-at-start.zip."""
    data = b"Before Zip\n" + zc.build([zc.stored("a.txt", b"a")])
    result = read(tmp_path, data)
    assert codes(result) == ["PKG_NOT_ZIP"]
    assert result.problems[0].params["detected"] == "开头附加了其他数据的 ZIP 压缩包"


def test_concatenated_archives_stay_corrupt(tmp_path: Path) -> None:
    """Two archives end to end: readers that take the last end record see the second,
    so the file is ambiguous, even though the first one's directory fits."""
    one = zc.build([zc.stored("a.txt", b"a")])
    two = zc.build([zc.stored("b.txt", b"b")])
    result = read(tmp_path, one + two)
    assert codes(result) == ["PKG_CORRUPT"] and result.problems[0].params["fault"] == "directory_position"
