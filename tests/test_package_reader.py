"""Tests of the package reader (spec §1): real ZIP bytes, hostile ones crafted by zipcraft."""

from __future__ import annotations

import bz2
import errno
import gzip
import hashlib
import io
import lzma
import os
import random
import re
import tarfile
import tempfile
import threading
import tracemalloc
import unicodedata
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.check import package_reader as pr
from pipeline.check.files import hash_file
from pipeline.check.package_reader import CHUNK, read_package
from pipeline.check.policy import load_policy
from tests.support import zipcraft as zc
from tests.support.reading import CJK, ROOT, SPEC_PKG_CODES, codes, make_zip, read, zip_limits

def tree(root: Path, skip: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if skip not in (p, *p.parents)}


# ---------------------------------------------------------------------------------------
# good archives


def test_good_utf8_archive_files_hashes_directories_and_junk(tmp_path: Path) -> None:
    members = {
        f"{ROOT}/培训方案.json": b'{"form": "training_plan"}',
        f"{ROOT}/育婴师初级/理论/育婴师初级理论1.jpg": b"\xff\xd8\xff" + bytes(range(256)) * 40,
        f"{ROOT}/育婴师初级/实操/育婴师初级实操1.mp4": b"\x00\x00\x00\x18ftypmp42" * 100,
        f"{ROOT}/空文件.txt": b"",
        # junk
        "__MACOSX/._培训方案.json": b"\x00\x05\x16\x07",
        f"__MACOSX/{ROOT}/._育婴师初级": b"\x00\x05\x16\x07",
        f"{ROOT}/.DS_Store": b"Bud1",
        f"{ROOT}/育婴师初级/理论/Thumbs.db": b"\xd0\xcf",
        f"{ROOT}/育婴师初级/EHTHUMBS.DB": b"x",
        f"{ROOT}/Desktop.ini": b"[.ShellClassInfo]",
        f"{ROOT}/._x": b"x",
        f"{ROOT}/~$诚信承诺书.docx": b"x",
    }
    dirs = [f"{ROOT}/", f"{ROOT}/育婴师初级/", f"{ROOT}/空文件夹/", "__MACOSX/",
            f"{ROOT}/只有垃圾/"]
    members[f"{ROOT}/只有垃圾/.DS_Store"] = b"Bud1"
    data = make_zip(members, dirs)
    result = read(tmp_path, data)

    assert result.problems == ()
    assert result.name_encoding == "utf-8"
    assert result.zip_size == len(data)
    assert result.zip_sha256 == hashlib.sha256(data).hexdigest()
    material = [n for n in members if n.startswith(ROOT) and "/." not in n and "/~$" not in n
                and not n.lower().endswith(("thumbs.db", "desktop.ini"))]
    assert [f.path for f in result.files] == sorted(material)
    for f in result.files:
        content = members[f.path]
        assert f.size == len(content)
        assert f.sha256 == hashlib.sha256(content).hexdigest()
        assert f.read_bytes() == content
        assert f.local_path.parent == tmp_path / "work" / "files"
        assert re.fullmatch(r"\d{6}(\.[a-z0-9]{1,8})?", f.local_path.name)
    assert result.directories == (ROOT, f"{ROOT}/育婴师初级", f"{ROOT}/育婴师初级/实操",
                                  f"{ROOT}/育婴师初级/理论")
    assert result.ignored == tuple(sorted([
        "__MACOSX/", "__MACOSX/._培训方案.json", f"__MACOSX/{ROOT}/._育婴师初级",
        f"{ROOT}/.DS_Store", f"{ROOT}/._x", f"{ROOT}/Desktop.ini", f"{ROOT}/~$诚信承诺书.docx",
        f"{ROOT}/只有垃圾/", f"{ROOT}/只有垃圾/.DS_Store", f"{ROOT}/空文件夹/",
        f"{ROOT}/育婴师初级/EHTHUMBS.DB", f"{ROOT}/育婴师初级/理论/Thumbs.db",
    ]))


def test_hash_file_streams_size_and_sha256(tmp_path: Path) -> None:
    content = os.urandom(3 * 1000 + 7)
    path = tmp_path / "f"
    path.write_bytes(content)
    assert hash_file(path, chunk=1000) == (len(content), hashlib.sha256(content).hexdigest())


def test_work_dir_is_created_with_parents(tmp_path: Path) -> None:
    (tmp_path / "pkg.zip").write_bytes(make_zip({"a/b.txt": b"b"}))
    work = tmp_path / "x" / "y" / "work"
    result = read_package(tmp_path / "pkg.zip", work, load_policy().zip)
    assert result.problems == ()
    assert result.files[0].local_path.parent == work / "files"


def test_data_descriptor_and_zip64_end_records_are_read(tmp_path: Path) -> None:
    entries = [zc.stored("a/one.txt", b"1" * 50, flags=zc.FLAG_DATA_DESCRIPTOR, descriptor=True),
               zc.deflated("a/two.txt", b"2" * 500, flags=zc.FLAG_DATA_DESCRIPTOR, descriptor=True)]
    result = read(tmp_path, zc.build(entries, zip64=True))
    assert result.problems == ()
    assert [(f.path, f.size) for f in result.files] == [("a/one.txt", 50), ("a/two.txt", 500)]


# ---------------------------------------------------------------------------------------
# name encodings

CHINESE_NAMES = [f"{ROOT}/培训方案.json", f"{ROOT}/育婴师初级/理论/育婴师初级理论1.jpg"]


def test_gbk_names_without_flag_decode_like_windows_zipper(tmp_path: Path) -> None:
    entries = [zc.stored(n.encode("gbk"), n.encode(), flags=0) for n in CHINESE_NAMES]
    entries.append(zc.stored(f"{ROOT}/䶮.txt".encode("gb18030"), b"ext-a", flags=0))  # GB18030 only
    result = read(tmp_path, zc.build(entries))
    assert result.problems == ()
    assert result.name_encoding == "gb18030"
    assert [f.path for f in result.files] == sorted([*CHINESE_NAMES, f"{ROOT}/䶮.txt"])
    contents = {f.path: f.read_bytes() for f in result.files}
    assert all(contents[n] == n.encode() for n in CHINESE_NAMES)


def test_gbk_trail_byte_0x5c_is_not_a_backslash(tmp_path: Path) -> None:
    name = f"{ROOT}/乗务.txt"
    assert b"\\" in name.encode("gbk")
    result = read(tmp_path, zc.build([zc.stored(name.encode("gbk"), b"x", flags=0)]))
    assert result.problems == ()
    assert [f.path for f in result.files] == [name]


def test_utf8_names_without_flag(tmp_path: Path) -> None:
    entries = [zc.stored(n.encode("utf-8"), b"x", flags=0) for n in CHINESE_NAMES]
    result = read(tmp_path, zc.build(entries))
    assert result.problems == ()
    assert result.name_encoding == "utf-8"
    assert [f.path for f in result.files] == sorted(CHINESE_NAMES)


def test_info_zip_unicode_path_extra_wins_when_crc_matches(tmp_path: Path) -> None:
    garbage = b"\x80\x81\x82.json"  # neither UTF-8 nor GB18030 on its own
    good = zc.stored(garbage, b"plan", flags=0,
                     extra=zc.unicode_path_extra(garbage, f"{ROOT}/培训方案.json"))
    stale = zc.stored(b"old.txt", b"old", flags=0,
                      extra=zc.unicode_path_extra(b"renamed.txt", "新名字.txt"))
    result = read(tmp_path, zc.build([good, stale]))
    assert result.problems == ()
    assert [f.path for f in result.files] == sorted([f"{ROOT}/培训方案.json", "old.txt"])


def test_short_gbk_name_valid_as_utf8_follows_the_archive_encoding(tmp_path: Path) -> None:
    short = zc.gbk_name_valid_as_utf8()
    short_name = f"{short}.jpg"
    assert short_name.encode("gbk").decode("utf-8") != short_name  # ambiguous on its own
    long_name = f"{ROOT}/育婴师初级/理论/育婴师初级理论1.jpg"
    entries = [zc.stored(short_name.encode("gbk"), b"s", flags=0),
               zc.stored(long_name.encode("gbk"), b"l", flags=0)]
    result = read(tmp_path, zc.build(entries))
    assert result.problems == ()
    assert result.name_encoding == "gb18030"
    assert sorted(f.path for f in result.files) == sorted([short_name, long_name])


def test_ambiguous_name_alone_reads_as_utf8(tmp_path: Path) -> None:
    """Documented limit: with nothing else in the archive, valid UTF-8 bytes are UTF-8."""
    raw = f"{zc.gbk_name_valid_as_utf8()}.jpg".encode("gbk")
    result = read(tmp_path, zc.build([zc.stored(raw, b"s", flags=0)]))
    assert result.name_encoding == "utf-8"
    assert [f.path for f in result.files] == [raw.decode("utf-8")]


def test_undecodable_name_is_pkg_name_encoding(tmp_path: Path) -> None:
    entries = [zc.stored(b"ok.txt", b"x", flags=0), zc.stored(b"bad\xff\xfe.jpg", b"y", flags=0)]
    result = read(tmp_path, zc.build(entries))
    assert codes(result) == ["PKG_NAME_ENCODING"]
    assert result.problems[0].params["raw"] == "bad\\xff\\xfe.jpg"
    assert result.problems[0].path == ""
    assert result.name_encoding == ""


def test_flagged_name_that_is_not_utf8_is_pkg_name_encoding(tmp_path: Path) -> None:
    entry = zc.stored("培训方案.json".encode("gbk"), b"x", flags=zc.FLAG_UTF8)
    assert codes(read(tmp_path, zc.build([entry]))) == ["PKG_NAME_ENCODING"]


def test_names_are_nfc_normalised(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "café/résumé.txt")
    assert nfd != "café/résumé.txt"
    result = read(tmp_path, make_zip({nfd: b"x"}))
    assert [f.path for f in result.files] == ["café/résumé.txt"]
    assert result.directories == ("café",)


# ---------------------------------------------------------------------------------------
# not a ZIP


def _tar_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("a.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


@pytest.mark.parametrize(("data", "label"), [
    (b"Rar!\x1a\x07\x01\x00" + bytes(100), "RAR 压缩包"),
    (b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(100), "7z 压缩包"),
    (gzip.compress(b"hello", mtime=0), "gzip 压缩文件"),
    (bz2.compress(b"hello"), "bzip2 压缩文件"),
    (lzma.compress(b"hello"), "xz 压缩文件"),
    (_tar_bytes(), "tar 归档文件"),
    (b"%PDF-1.7\n" + bytes(100), "PDF 文档"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG 图片"),
    (b"\xff\xd8\xff\xe0" + bytes(100), "JPEG 图片"),
    (bytes(random.Random(7).randrange(256) for _ in range(300)), "未知格式"),
    (b"PK", "未知格式"),
    (b"", "空文件"),
], ids=lambda value: value if isinstance(value, str) else None)  # no bytes in test ids
def test_not_a_zip(tmp_path: Path, data: bytes, label: str) -> None:
    result = read(tmp_path, data)
    assert codes(result) == ["PKG_NOT_ZIP"]
    assert result.problems[0].params["detected"] == label
    assert result.zip_sha256 == hashlib.sha256(data).hexdigest()
    assert result.zip_size == len(data)


# ---------------------------------------------------------------------------------------
# corrupt

GOOD = {f"{ROOT}/培训方案.json": b"{}" * 3000, f"{ROOT}/b.txt": b"bbb" * 1000}


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_zip_is_corrupt(tmp_path: Path, cut: float) -> None:
    data = make_zip(GOOD)
    result = read(tmp_path, data[: int(len(data) * cut)])
    assert codes(result) == ["PKG_CORRUPT"]
    assert result.problems[0].params["fault"] == "no_end_record"  # incomplete: its end is missing


def test_truncated_in_end_record_is_corrupt(tmp_path: Path) -> None:
    data = make_zip(GOOD)
    assert codes(read(tmp_path, data[:-10])) == ["PKG_CORRUPT"]


def test_broken_central_directory_signature_is_corrupt(tmp_path: Path) -> None:
    data = make_zip(GOOD)
    at = data.rindex(b"PK\x01\x02")
    assert codes(read(tmp_path, zc.patch(data, at, b"PK\x01\x09"))) == ["PKG_CORRUPT"]


@pytest.mark.parametrize(("build", "fault", "facts"), [
    (lambda e: zc.build(e, cd_offset_delta=-3), "directory_position", {}),
    (lambda e: zc.build(e, zip64=True, cd_offset_delta=5), "directory_position", {}),
    (lambda e: zc.build(e, declared_count=1), "directory_size", {}),
    (lambda e: zc.build(e, declared_count=3), "directory_entry", {"entry_number": 3}),
    # two archives concatenated: the directory is not where the end record says
    (lambda e: zc.build(e) + zc.build(e), "directory_position", {}),
])
def test_inconsistent_end_record_is_corrupt(tmp_path: Path, build, fault: str, facts: dict) -> None:  # type: ignore[no-untyped-def]
    entries = [zc.stored("a.txt", b"a"), zc.stored("b.txt", b"b")]
    result = read(tmp_path, build(entries))
    assert codes(result) == ["PKG_CORRUPT"]
    p = result.problems[0]
    assert p.params["fault"] == fault and {k: p.params[k] for k in facts} == facts


def test_malformed_extra_field_is_corrupt(tmp_path: Path) -> None:
    entry = zc.stored("a.txt", b"a", extra=b"\x01\x00\xff\x00\x00")
    assert codes(read(tmp_path, zc.build([entry]))) == ["PKG_CORRUPT"]


def test_local_header_naming_another_file_is_corrupt(tmp_path: Path) -> None:
    entry = zc.stored("a.txt", b"a", local_name=b"b.txt")
    result = read(tmp_path, zc.build([entry]))
    assert codes(result) == ["PKG_CORRUPT"]
    assert result.problems[0].path == "a.txt"
    assert result.problems[0].params["fault"] == "local_name"  # found by the scan, before extraction


def test_bad_crc_is_corrupt_and_nothing_is_left_behind(tmp_path: Path) -> None:
    entries = [zc.stored("a.txt", b"good data"), zc.stored("b.txt", b"precious data")]
    data = zc.build(entries)
    at = data.index(b"precious")
    result = read(tmp_path, zc.patch(data, at, b"X"))
    assert codes(result) == ["PKG_CORRUPT"]
    assert result.problems[0].path == "b.txt"
    assert (result.problems[0].params["entry"], result.problems[0].params["fault"]) == ("b.txt", "crc")
    # read() also asserts work/files is empty: a.txt, extracted first, was removed


def test_damaged_deflate_stream_is_corrupt(tmp_path: Path) -> None:
    entry = zc.deflated("a.txt", os.urandom(5000))
    entry = zc.replace(entry, data=b"\xff" * len(entry.data))
    result = read(tmp_path, zc.build([entry]))
    assert codes(result) == ["PKG_CORRUPT"]
    assert (result.problems[0].params["entry"], result.problems[0].params["fault"]) == ("a.txt", "data")


def test_member_shorter_than_declared_is_corrupt(tmp_path: Path) -> None:
    entry = zc.deflated("a.txt", b"abc" * 100)
    result = read(tmp_path, zc.build([zc.replace(entry, file_size=400)]))
    assert codes(result) == ["PKG_CORRUPT"]


def test_member_longer_than_declared_is_corrupt(tmp_path: Path) -> None:
    """Lying sizes: the CRC covers all 20,000 bytes, the header declares 100."""
    entry = zc.deflated("a.txt", os.urandom(20_000))
    result = read(tmp_path, zc.build([zc.replace(entry, file_size=100)]))
    assert codes(result) == ["PKG_CORRUPT"]


def test_member_longer_than_declared_never_yields_more_than_declared(tmp_path: Path) -> None:
    """Even with a CRC forged over the declared prefix, no byte beyond it comes out."""
    content = os.urandom(20_000)
    entry = zc.deflated("a.txt", content)
    forged = zc.replace(entry, file_size=100, crc=zlib.crc32(content[:100]))
    result = read(tmp_path, zc.build([forged]))
    assert result.problems == ()
    assert result.files[0].size == 100
    assert result.files[0].read_bytes() == content[:100]


def test_stored_entry_with_two_sizes_is_corrupt(tmp_path: Path) -> None:
    entry = zc.stored("a.txt", b"abcdef", file_size=3, crc=zlib.crc32(b"abc"))
    result = read(tmp_path, zc.build([entry]))
    assert codes(result) == ["PKG_CORRUPT"]
    assert result.problems[0].params["fault"] == "stored_sizes"


def test_entries_sharing_one_local_header_overlap(tmp_path: Path) -> None:
    entries = [zc.deflated("a.txt", bytes(100_000)), zc.deflated("b.txt", bytes(100_000), local_of=0)]
    result = read(tmp_path, zc.build(entries))
    assert set(codes(result)) == {"PKG_CORRUPT"}
    assert any(p.params["fault"] == "overlap" and p.path == "b.txt" for p in result.problems)


def test_quoted_overlap_entry_data_covering_next_header(tmp_path: Path) -> None:
    """The Fifield-style bomb: each entry's declared data runs over the next local header."""
    a, b = zc.stored("a.txt", b"A" * 100), zc.stored("b.txt", b"B" * 100)
    covering = 100 + 30 + len(b"b.txt") + 100
    a = zc.replace(a, compress_size=covering, file_size=covering)
    result = read(tmp_path, zc.build([a, b]))
    assert codes(result) == ["PKG_CORRUPT"]
    p = result.problems[0]
    assert (p.params["fault"], p.params["entry"], p.params["other"]) == ("overlap", "a.txt", "b.txt")


def test_last_entry_data_running_into_central_directory_is_corrupt(tmp_path: Path) -> None:
    entry = zc.stored("a.txt", b"A" * 100)
    result = read(tmp_path, zc.build([zc.replace(entry, compress_size=150, file_size=150)]))
    assert codes(result) == ["PKG_CORRUPT"]


# ---------------------------------------------------------------------------------------
# encrypted


def test_encrypted_entry(tmp_path: Path) -> None:
    entries = [zc.stored("a.txt", b"plain"),
               zc.stored(f"{ROOT}/培训方案.json", os.urandom(40), flags=zc.FLAG_ENCRYPTED | zc.FLAG_UTF8)]
    result = read(tmp_path, zc.build(entries))
    assert codes(result) == ["PKG_ENCRYPTED"]
    assert result.problems[0].path == f"{ROOT}/培训方案.json"
    assert result.problems[0].params["name"] == f"{ROOT}/培训方案.json"


# ---------------------------------------------------------------------------------------
# unsafe paths


@pytest.mark.parametrize("name", [
    b"/etc/passwd", b"../x", b"a/../../x", b"..\\..\\x", b"C:\\x", b"C:/x", b"c:x",
    b"a//b.txt", b"./a.txt", b"a/\x00b.txt", b"a/b\x1b.txt", b"__MACOSX/../../x", b"a\\b.txt",
    b"../escape/",
])
def test_unsafe_paths_reject_and_write_nothing_outside(tmp_path: Path, name: bytes,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd" / "deep"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    data = zc.build([zc.stored("ok.txt", b"ok"), zc.stored(name, b"evil", flags=0)])
    (tmp_path / "pkg.zip").write_bytes(data)
    before = tree(tmp_path, tmp_path / "work")
    result = read(tmp_path, data)
    assert codes(result) == ["PKG_UNSAFE_PATH"]
    assert tree(tmp_path, tmp_path / "work") == before
    assert "\x00" not in result.problems[0].path
    assert result.problems[0].path  # the entry is named


def test_symlink_entry_is_unsafe(tmp_path: Path) -> None:
    link = zc.stored("a/link", b"/etc/passwd", external_attr=zc.SYMLINK_ATTR)
    result = read(tmp_path, zc.build([zc.stored("a/b.txt", b"x"), link]))
    assert codes(result) == ["PKG_UNSAFE_PATH"]
    assert result.problems[0].params["faults"] == ["symlink"]
    assert result.problems[0].path == "a/link"


def test_symlink_written_by_zipfile_is_unsafe(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("a/link")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "../../etc/passwd")
        zf.writestr("a/b.txt", "x")
    assert codes(read(tmp_path, buf.getvalue())) == ["PKG_UNSAFE_PATH"]


def test_all_unsafe_entries_are_reported(tmp_path: Path) -> None:
    names = [b"/abs.txt", b"../up.txt", b"C:\\win.txt"]
    result = read(tmp_path, zc.build([zc.stored(n, b"x", flags=0) for n in names]))
    assert codes(result) == ["PKG_UNSAFE_PATH"] * 3
    assert [p.path for p in result.problems] == ["/abs.txt", "../up.txt", "C:\\win.txt"]
    assert [p.params["name"] for p in result.problems] == ["/abs.txt", "../up.txt", "C:\\win.txt"]
    assert result.problems[0].params["faults"] == ["absolute"]
    assert result.problems[1].params["faults"] == ["parent_segment"]
    assert "drive" in result.problems[2].params["faults"]  # (and its backslash)


# ---------------------------------------------------------------------------------------
# duplicates


@pytest.mark.parametrize(("first", "second"), [
    ("A/b.jpg", "a/B.jpg"),
    ("same.txt", "same.txt"),
    (unicodedata.normalize("NFC", "材料/café.txt"), unicodedata.normalize("NFD", "材料/café.txt")),
    ("材料/\uf900.jpg", "材料/\u8c48.jpg"),  # CJK compatibility ideograph vs its NFC form
    ("Straße/x.txt", "STRASSE/x.txt"),
])
def test_duplicate_entries(tmp_path: Path, first: str, second: str) -> None:
    entries = [zc.stored(first, b"1"), zc.stored(second, b"2")]
    result = read(tmp_path, zc.build(entries))
    assert codes(result) == ["PKG_DUPLICATE_ENTRY"]
    assert result.problems[0].params["name"] == unicodedata.normalize("NFC", first)
    assert result.problems[0].params["other"] == unicodedata.normalize("NFC", second)


def test_file_with_the_name_of_a_folder_is_duplicate(tmp_path: Path) -> None:
    result = read(tmp_path, zc.build([zc.stored("a/B", b"1"), zc.stored("A/b/c.txt", b"2")]))
    assert codes(result) == ["PKG_DUPLICATE_ENTRY"]
    assert (result.problems[0].params["name"], result.problems[0].params["other"]) == ("a/B", "A/b/")


def test_directory_entry_beside_its_files_is_no_duplicate(tmp_path: Path) -> None:
    result = read(tmp_path, make_zip({"a/b.txt": b"x"}, dirs=["a/", "A/"]))
    assert result.problems == ()
    assert result.ignored == ()


# ---------------------------------------------------------------------------------------
# limits


def test_too_many_entries(tmp_path: Path) -> None:
    data = make_zip({f"f{i}.txt": b"x" for i in range(5)} | {".DS_Store": b"x"})
    result = read(tmp_path, data, zip_limits(max_entries=5))
    assert codes(result) == ["PKG_LIMIT"]
    p = result.problems[0]
    assert (p.params["fault"], p.params["count"], p.params["max_count"]) == ("entries", 6, 5)
    assert read(tmp_path, data, zip_limits(max_entries=6)).problems == ()


@pytest.mark.parametrize("name", ["a/inner.zip", "a/INNER.RAR", "a/x.7z", "a/x.tar.gz"])
def test_nested_archive(tmp_path: Path, name: str) -> None:
    result = read(tmp_path, make_zip({name: b"PK\x05\x06" + bytes(18), "a/b.txt": b"x"}))
    assert codes(result) == ["PKG_LIMIT"]
    assert result.problems[0].path == name


def test_junk_with_archive_suffix_is_not_a_nested_archive(tmp_path: Path) -> None:
    result = read(tmp_path, make_zip({"__MACOSX/a/._x.zip": b"x", "a/._y.zip": b"y", "a/b.txt": b"x"}))
    assert result.problems == ()
    assert result.ignored == ("__MACOSX/a/._x.zip", "a/._y.zip")


def test_ratio_bomb_is_refused_before_decompression(tmp_path: Path) -> None:
    bomb = zc.deflated_stream("a/bomb.txt", zc.zeros(50 * 1024 * 1024))
    assert bomb.file_size == 50 * 1024 * 1024 and len(bomb.data) < 100_000
    result = read(tmp_path, zc.build([zc.stored("a/b.txt", b"x"), bomb]))
    assert codes(result) == ["PKG_LIMIT"]
    p = result.problems[0]
    assert p.params["fault"] == "ratio" and p.path == p.params["entry"] == "a/bomb.txt"
    assert p.params["ratio"] > p.params["max_ratio"] == load_policy().zip.max_ratio


def test_high_ratio_below_the_floor_is_fine(tmp_path: Path) -> None:
    result = read(tmp_path, zc.build([zc.deflated("a/zeros.bin", bytes(500_000))]))
    assert result.problems == ()
    assert result.files[0].sha256 == hashlib.sha256(bytes(500_000)).hexdigest()


def test_declared_sizes_over_the_limits_zip64(tmp_path: Path) -> None:
    """Two entries declaring 5 GiB each (ZIP64 extra field): over the per-entry limit,
    the total limit and the ratio; nothing is decompressed, nothing gigabyte-sized is
    written by the test."""
    five_gib = 5 * 1024**3
    entries = [zc.replace(zc.deflated(f"a/{n}.mp4", b"tiny"), file_size=five_gib,
                          extra=zc.zip64_extra(five_gib)) for n in ("x", "y")]
    result = read(tmp_path, zc.build(entries))
    assert set(codes(result)) == {"PKG_LIMIT"}
    faults = {p.params["fault"] for p in result.problems}
    assert {"entry_size", "total_size", "ratio"} <= faults
    total = next(p for p in result.problems if p.params["fault"] == "total_size")
    assert total.params["size_bytes"] == 2 * five_gib


def test_entry_size_limit_from_policy(tmp_path: Path) -> None:
    data = make_zip({"a/big.bin": os.urandom(2000), "a/small.bin": b"x"})
    result = read(tmp_path, data, zip_limits(max_entry_bytes=1000))
    assert codes(result) == ["PKG_LIMIT"]
    assert result.problems[0].path == "a/big.bin"


def test_total_size_limit_from_policy(tmp_path: Path) -> None:
    data = make_zip({f"a/{i}.bin": os.urandom(400) for i in range(3)})
    assert codes(read(tmp_path, data, zip_limits(max_total_bytes=1000))) == ["PKG_LIMIT"]
    assert read(tmp_path, data, zip_limits(max_total_bytes=1200)).problems == ()


@pytest.mark.parametrize(("method", "data"), [(12, bz2.compress(b"x" * 100)), (9, b"\x00" * 10),
                                              (14, b"\x00" * 10), (93, b"\x00" * 10)])
def test_unsupported_compression_method(tmp_path: Path, method: int, data: bytes) -> None:
    entry = zc.Entry(name=b"a/x.txt", data=data, crc=zlib.crc32(b"x" * 100), file_size=100,
                     method=method)
    result = read(tmp_path, zc.build([entry]))
    assert codes(result) == ["PKG_LIMIT"]
    assert (result.problems[0].params["fault"], result.problems[0].params["method"]) == ("method", method)


# ---------------------------------------------------------------------------------------
# empty


def test_only_junk_is_empty(tmp_path: Path) -> None:
    data = make_zip({"__MACOSX/._a": b"x", ".DS_Store": b"x", "x/Thumbs.db": b"x"}, dirs=["x/", "y/"])
    result = read(tmp_path, data)
    assert codes(result) == ["PKG_EMPTY"]
    assert result.problems[0].params["ignored_count"] == 5
    assert result.ignored == (".DS_Store", "__MACOSX/._a", "x/", "x/Thumbs.db", "y/")


def test_zero_entry_zip_is_empty(tmp_path: Path) -> None:
    data = make_zip({})
    assert data.startswith(b"PK\x05\x06")
    result = read(tmp_path, data)
    assert codes(result) == ["PKG_EMPTY"]
    assert result.name_encoding == ""


# ---------------------------------------------------------------------------------------
# streaming extraction: one pass over the ZIP


class ReadSpy:
    """Records how the reader reads the ZIP: the sequential pass (``os.preadv``) and the
    scan's reads through the file object (everything else)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, zip_path: Path) -> None:
        self.passes: list[tuple[int, int, int]] = []  # (offset, asked, got)
        self.scan_bytes = 0
        self.zip_path = zip_path
        real_preadv, real_open = os.preadv, open
        spy = self

        def preadv(fd: int, buffers: list[bytearray], offset: int) -> int:
            got = real_preadv(fd, buffers, offset)
            spy.passes.append((offset, sum(len(b) for b in buffers), got))
            return got

        class Counting:
            def __init__(self, f: io.BufferedReader) -> None:
                self._f = f

            def __enter__(self) -> Counting:
                return self

            def __exit__(self, *exc: object) -> None:
                self._f.close()

            def read(self, n: int = -1) -> bytes:
                data = self._f.read(n)
                spy.scan_bytes += len(data)
                return data

            def __getattr__(self, name: str) -> object:
                return getattr(self._f, name)

        def spy_open(file: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
            f = real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]
            return Counting(f) if Path(file) == spy.zip_path else f

        monkeypatch.setattr(pr.os, "preadv", preadv)
        monkeypatch.setattr(pr, "open", spy_open, raising=False)

    @property
    def pass_bytes(self) -> int:
        return sum(got for _, _, got in self.passes)


def test_large_member_is_streamed_in_chunks_and_the_zip_read_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """30 MB member: correct hashes, every read at most CHUNK, each byte of the ZIP read
    once in order (the scan only touches headers), memory far below the size."""
    size = 30 * 1024 * 1024
    rng = random.Random(1)
    expected = hashlib.sha256()
    zip_path = tmp_path / "pkg.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("v/form.json", b'{"a": 1}' * 1000, zipfile.ZIP_DEFLATED)
        with zf.open("v/big.mp4", "w") as dst:
            for _ in range(size // CHUNK):
                block = rng.randbytes(CHUNK)
                expected.update(block)
                dst.write(block)
    zip_size, zip_sha256 = hash_file(zip_path)
    spy = ReadSpy(monkeypatch, zip_path)
    tracemalloc.start()
    try:
        result = read_package(zip_path, tmp_path / "work", load_policy().zip)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.problems == ()
    big = result.files[0]
    assert (big.path, big.size, big.sha256) == ("v/big.mp4", size, expected.hexdigest())
    assert result.zip_sha256 == zip_sha256
    assert spy.pass_bytes == zip_size  # each byte once...
    offsets = [offset for offset, _, _ in spy.passes]
    assert offsets == sorted(set(offsets)) and offsets[0] == 0  # ...in order, never twice
    assert all(asked <= CHUNK for _, asked, _ in spy.passes)
    assert spy.scan_bytes < 256 * 1024  # the scan reads headers, not data
    # a stored video is read where it lies: nothing of it was written to the work area
    assert (big.local_path, big.offset) == (zip_path, zip_path.read_bytes().index(b"big.mp4") + len("big.mp4"))
    assert [p.suffix for p in (tmp_path / "work" / "files").iterdir()] == [".json"]  # the form alone
    digest = hashlib.sha256()
    with big.content.open() as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    assert digest.hexdigest() == expected.hexdigest()
    assert peak < 8 * CHUNK


def test_stored_and_deflated_members_hash_like_hashlib(tmp_path: Path) -> None:
    """Media stored, forms deflated, members across chunk boundaries, empty members and a
    data descriptor, in one archive: every member and the whole file as hashlib says."""
    rng = random.Random(2)
    contents = {
        "t/photo.jpg": b"\xff\xd8\xff" + rng.randbytes(CHUNK + 1),
        "t/form.json": b'{"name": "\xe5\xad\xa6\xe5\x91\x98", "score": 90}' * 5000,
        "t/video.mp4": rng.randbytes(3 * CHUNK - 7),
        "t/empty.txt": b"",
        "t/empty.json": b"",
        "t/notes.json": rng.randbytes(300) * 2000,  # deflated across chunks, descriptor
    }
    entries = [
        zc.stored("t/photo.jpg", contents["t/photo.jpg"]),
        zc.deflated("t/form.json", contents["t/form.json"]),
        zc.stored("t/empty.txt", b""),
        zc.stored("t/video.mp4", contents["t/video.mp4"]),
        zc.deflated("t/empty.json", b""),
        zc.deflated("t/notes.json", contents["t/notes.json"], flags=zc.FLAG_DATA_DESCRIPTOR,
                    descriptor=True),
        zc.stored("__MACOSX/t/._photo.jpg", b"\x00\x05\x16\x07" * 100),  # junk: only hashed
    ]
    data = zc.build(entries)
    result = read(tmp_path, data)
    assert result.problems == ()
    assert result.zip_size == len(data)
    assert result.zip_sha256 == hashlib.sha256(data).hexdigest()
    assert {f.path for f in result.files} == set(contents)
    for f in result.files:
        assert f.size == len(contents[f.path])
        assert f.sha256 == hashlib.sha256(contents[f.path]).hexdigest()
        assert f.read_bytes() == contents[f.path]
    # local names number the files in path order, whatever their order in the archive; the
    # stored video is read in place (its number is skipped: no file is written for it)
    assert [f.local_path.name.split(".")[0] for f in result.files if f.path != "t/video.mp4"] == \
        [f"{i:06d}" for i in range(6) if i != 5]
    video = next(f for f in result.files if f.path == "t/video.mp4")
    assert video.local_path == tmp_path / "pkg.zip" and video.offset > 0


@pytest.mark.parametrize("method", ["stored", "deflated"])
def test_bad_crc_in_a_large_member_is_corrupt(tmp_path: Path, method: str) -> None:
    content = random.Random(3).randbytes(2 * CHUNK + 100)
    make = zc.stored if method == "stored" else zc.deflated
    entries = [zc.stored("a/first.jpg", b"first" * 1000),
               zc.replace(make("a/b.mp4", content), crc=zlib.crc32(content) ^ 1),
               zc.stored("a/last.jpg", b"last")]
    data = zc.build(entries)
    result = read(tmp_path, data)  # also asserts that a/first.jpg, written first, is gone
    assert codes(result) == ["PKG_CORRUPT"]
    assert result.problems[0].path == "a/b.mp4" and result.problems[0].params["fault"] == "crc"
    assert result.zip_sha256 == hashlib.sha256(data).hexdigest()  # hashed to the end anyway
    # a stored video is read in place: its failure removes what was written, never the ZIP
    assert (tmp_path / "pkg.zip").read_bytes() == data


def test_only_stored_videos_are_read_in_place(tmp_path: Path) -> None:
    video = random.Random(4).randbytes(CHUNK + 5)
    data = zc.build([zc.stored("a/v1.mp4", video), zc.deflated("a/v2.mp4", video), zc.stored("a/V3.MP4", video),
                     zc.stored("a/p.jpg", b"\xff\xd8\xff" + video), zc.stored("a/f.json", b"{}")])
    result = read(tmp_path, data)
    assert result.problems == ()
    in_place = {f.path for f in result.files if f.local_path == tmp_path / "pkg.zip"}
    assert in_place == {"a/v1.mp4", "a/V3.MP4"}  # stored, a video's suffix in any case
    for f in result.files:
        assert (f.offset > 0) == (f.path in in_place)
        assert f.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
        assert f.read_bytes().endswith(video) or f.path == "a/f.json"
    written = sorted(p.suffix for p in (tmp_path / "work" / "files").iterdir())
    assert written == [".jpg", ".json", ".mp4"]  # the photo, the form, the deflated video


def test_bad_crc_in_a_deflated_member_with_data_descriptor(tmp_path: Path) -> None:
    content = b"form data " * 5000
    entry = zc.deflated("a/form.json", content, flags=zc.FLAG_DATA_DESCRIPTOR, descriptor=True)
    result = read(tmp_path, zc.build([zc.replace(entry, crc=zlib.crc32(content) + 1)]))
    assert codes(result) == ["PKG_CORRUPT"]
    assert result.problems[0].params["fault"] == "crc"


def test_whole_file_sha256_whatever_the_outcome(tmp_path: Path) -> None:
    """Accepted, refused by the scan, refused during extraction: always hashlib's value."""
    good = make_zip(GOOD)
    refused = zc.build([zc.stored("../x", b"x")])
    entries = [zc.stored("a.txt", b"good data"), zc.stored("b.txt", b"precious data")]
    broken = zc.build(entries)
    broken = zc.patch(broken, broken.index(b"precious"), b"X")  # CRC error in b.txt
    for data, expected in ((good, []), (refused, ["PKG_UNSAFE_PATH"]), (broken, ["PKG_CORRUPT"])):
        run_dir = tmp_path / (expected[0] if expected else "ok")
        run_dir.mkdir()
        result = read(run_dir, data)
        assert codes(result) == expected
        assert (result.zip_size, result.zip_sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_deflated_member_longer_than_declared_is_stopped_in_bounded_memory(
        tmp_path: Path) -> None:
    """64 MiB of zeros behind a declared 1 MiB: inflating stops at the declared size, so
    the true CRC fails (PKG_CORRUPT) and nothing near 64 MiB is ever held or written."""
    declared = 1024 * 1024
    entry = zc.deflated_stream("a/zeros.bin", zc.zeros(64 * declared))
    lying = zc.replace(entry, file_size=declared)  # CRC still of the 64 MiB
    tracemalloc.start()
    try:
        result = read(tmp_path, zc.build([lying]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert codes(result) == ["PKG_CORRUPT"]
    assert result.problems[0].params["fault"] == "crc"
    assert peak < 8 * CHUNK
    # with a CRC forged over the declared prefix, exactly the declared bytes come out
    forged = zc.replace(lying, crc=zlib.crc32(bytes(declared)))
    result = read(tmp_path, zc.build([forged]))
    assert result.problems == ()
    assert hash_file(result.files[0].local_path) == (declared,
                                                     hashlib.sha256(bytes(declared)).hexdigest())


def test_large_deflated_member_is_inflated_in_bounded_memory(tmp_path: Path) -> None:
    """40 MB compressing about 40:1 (within the ratio limit): output is produced in
    pieces of at most CHUNK, a few at a time."""
    rng = random.Random(4)
    words = [rng.randbytes(6).hex().encode() for _ in range(64)]
    line = b" ".join(rng.choice(words) for _ in range(1500))
    chunks = [line[i:] + line[:i] + rng.randbytes(300) for i in range(0, 40 * 1024**2 // len(line))]
    expected = hashlib.sha256(b"".join(chunks)).hexdigest()
    entry = zc.deflated_stream("a/big.json", chunks)
    assert 30 * len(entry.data) < entry.file_size < load_policy().zip.max_ratio * len(entry.data)
    tracemalloc.start()
    try:
        result = read(tmp_path, zc.build([entry]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.problems == ()
    assert result.files[0].sha256 == expected
    assert peak < 12 * CHUNK


def test_more_bytes_than_asked_from_the_inflater_is_pkg_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defensive count: should zlib ever return more than the declared size allows,
    extraction stops with PKG_LIMIT instead of writing it."""
    data = zc.build([zc.deflated("a/b.txt", b"abc" * 100)])

    class Greedy:
        eof = False
        unconsumed_tail = b""

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            return b"x" * (max_length + 1000)

    monkeypatch.setattr(pr.zlib, "decompressobj", lambda *args: Greedy())  # zlib-ng's
    result = read(tmp_path, data)
    assert codes(result) == ["PKG_LIMIT"]
    assert result.problems[0].path == "a/b.txt"
    assert result.problems[0].params["fault"] == "beyond_declared_size"


def test_zip64_members_and_end_records(tmp_path: Path) -> None:
    """Sizes and offsets in ZIP64 extra fields (central and local), ZIP64 end records."""
    stored_content = random.Random(5).randbytes(CHUNK + 10)
    form = b'{"zip64": true}' * 500
    entries = [zc.replace(zc.stored("a/v.mp4", stored_content), force_zip64=True),
               zc.replace(zc.deflated("a/f.json", form), force_zip64=True)]
    data = zc.build(entries, zip64=True)
    result = read(tmp_path, data)
    assert result.problems == ()
    assert result.zip_sha256 == hashlib.sha256(data).hexdigest()
    assert {f.path: f.sha256 for f in result.files} == {
        "a/v.mp4": hashlib.sha256(stored_content).hexdigest(),
        "a/f.json": hashlib.sha256(form).hexdigest()}


def test_zip64_local_headers_written_by_zipfile(tmp_path: Path) -> None:
    """zipfile's force_zip64 puts the ZIP64 extra in the local header only: the data
    starts 20 bytes later than without it."""
    buf = io.BytesIO()
    contents = {"a/x.mp4": os.urandom(5000), "a/y.json": b"{}" * 3000}
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in contents.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".mp4") else zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as dst:
                dst.write(content)
    assert buf.getvalue().count(b"\x01\x00\x10\x00") == 2  # local ZIP64 extra blocks
    result = read(tmp_path, buf.getvalue())
    assert result.problems == ()
    assert {f.path: f.read_bytes() for f in result.files} == contents


class Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors (flag bit 3) and zeros
    in the local headers, as streaming zippers do."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def test_data_descriptors_with_deflate_as_streaming_zippers_write_them(tmp_path: Path) -> None:
    out = Unseekable()
    contents = {"a/form.json": b'{"k": "v"}' * 4000, "a/photo.jpg": os.urandom(CHUNK + 3),
                "a/z.json": b"[]"}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in contents.items():
            zf.writestr(name, content)
    data = bytes(out.data)
    assert data[6] & zc.FLAG_DATA_DESCRIPTOR and data.count(b"PK\x07\x08") == 3
    result = read(tmp_path, data)
    assert result.problems == ()
    assert result.zip_sha256 == hashlib.sha256(data).hexdigest()
    assert {f.path: f.read_bytes() for f in result.files} == contents


@pytest.mark.parametrize("at", ["open", "write"])
def test_our_own_io_errors_raise_and_clean_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              at: str) -> None:
    """A disk error is our fault, not the institution's: it raises instead of blaming the
    package, and leaves no partial files (nor a running writer thread)."""
    zip_path = tmp_path / "pkg.zip"
    zip_path.write_bytes(zc.build([zc.stored("a.txt", b"a" * 5000), zc.stored("b.txt", b"b")]))
    real_open = open
    opened: list[str] = []

    class Full(io.BufferedWriter):
        def write(self, b: object) -> int:  # type: ignore[override]
            raise OSError(errno.ENOSPC, "No space left on device")

    def failing_open(file: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        if "w" not in mode:
            return real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]
        opened.append(str(file))
        if len(opened) == 2:  # b.txt
            if at == "open":
                raise OSError(errno.EACCES, "Permission denied", str(file))
            return Full(io.FileIO(file, "w"))
        return real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(pr, "open", failing_open, raising=False)
    with pytest.raises(OSError) as raised:
        read_package(zip_path, tmp_path / "work", load_policy().zip)
    assert raised.value.errno == (errno.EACCES if at == "open" else errno.ENOSPC)
    assert len(opened) == 2
    assert list((tmp_path / "work" / "files").iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name == "package-writer"]


def test_zip_changing_while_read_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ZIP shrinking between the scan and the pass is no fault of the package."""
    zip_path = tmp_path / "pkg.zip"
    zip_path.write_bytes(zc.build([zc.stored("a.txt", b"a" * 5000), zc.stored("b.txt", b"b")]))
    real_preadv = os.preadv
    monkeypatch.setattr(pr.os, "preadv",
                        lambda fd, bufs, offset: 0 if offset >= 2000 else real_preadv(fd, bufs, offset))
    monkeypatch.setattr(pr, "CHUNK", 1000)
    with pytest.raises(OSError, match="changed"):
        read_package(zip_path, tmp_path / "work", load_policy().zip)
    assert list((tmp_path / "work" / "files").iterdir()) == []


@st.composite
def archives(draw: st.DrawFn) -> tuple[list[zc.Entry], dict[str, bytes]]:
    count = draw(st.integers(1, 6))
    entries, contents = [], {}
    for i in range(count):
        size = draw(st.sampled_from([0, 1, 2, 100, 999, 1000, 1001, 4096, 20_000]))
        content = random.Random(draw(st.integers(0, 1000))).randbytes(size // 2) * 2
        content += b"x" * (size - len(content))
        name = f"d/{i}.bin"
        kind = draw(st.sampled_from(["stored", "deflated", "descriptor", "zip64"]))
        if kind == "stored":
            entry = zc.stored(name, content)
        elif kind == "deflated":
            entry = zc.deflated(name, content)
        elif kind == "descriptor":
            entry = zc.deflated(name, content, flags=zc.FLAG_DATA_DESCRIPTOR, descriptor=True)
        else:
            entry = zc.replace(zc.stored(name, content), force_zip64=True)
        if draw(st.booleans()):
            entries.append(zc.stored(f"__MACOSX/d/._{i}.bin", b"junk" * 10))
        entries.append(entry)
        contents[name] = content
    return entries, contents


@settings(max_examples=60, deadline=None)
@given(archive=archives(), chunk=st.sampled_from([64, 999, 1000, 4096]),
       inflate_input=st.sampled_from([1, 7, 100, 1 << 16]), buffers=st.integers(2, 4))
def test_any_chunking_gives_the_same_files(archive: tuple[list[zc.Entry], dict[str, bytes]],
                                            chunk: int, inflate_input: int, buffers: int) -> None:
    """Chunk and inflater-input boundaries anywhere (inside headers, data, descriptors):
    the same files and hashes."""
    entries, contents = archive
    data = zc.build(entries)
    saved = pr.CHUNK, pr._INFLATE_INPUT, pr.READ_BUFFERS
    pr.CHUNK, pr._INFLATE_INPUT, pr.READ_BUFFERS = chunk, inflate_input, buffers
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = read(Path(tmp), data)
            assert result.problems == ()
            assert result.zip_sha256 == hashlib.sha256(data).hexdigest()
            assert {f.path: (f.size, f.sha256) for f in result.files} == {
                n: (len(c), hashlib.sha256(c).hexdigest()) for n, c in contents.items()}
            assert all(f.read_bytes() == contents[f.path] for f in result.files)
    finally:
        pr.CHUNK, pr._INFLATE_INPUT, pr.READ_BUFFERS = saved


# ---------------------------------------------------------------------------------------
# the problems themselves


def test_every_pkg_code_is_reachable_with_chinese_messages(tmp_path: Path) -> None:
    """One archive per code; all together they cover the whole PKG_* family of §7."""
    cases = {
        "PKG_NOT_ZIP": b"Rar!\x1a\x07\x00" + bytes(50),
        "PKG_CORRUPT": make_zip(GOOD)[:100],
        "PKG_ENCRYPTED": zc.build([zc.stored("a", b"x" * 12, flags=zc.FLAG_ENCRYPTED)]),
        "PKG_UNSAFE_PATH": zc.build([zc.stored("../a", b"x")]),
        "PKG_LIMIT": make_zip({"a.zip": b"x"}),
        "PKG_NAME_ENCODING": zc.build([zc.stored(b"\xff", b"x", flags=0)]),
        "PKG_DUPLICATE_ENTRY": zc.build([zc.stored("a", b"x"), zc.stored("A", b"x")]),
        "PKG_EMPTY": make_zip({}),
    }
    assert set(cases) == SPEC_PKG_CODES
    for code, data in cases.items():
        result = read(tmp_path, data)
        assert codes(result) == [code]
        # kept: the point of this test is that the clerk gets a Chinese message and hint
        assert CJK.search(result.problems[0].message)
        assert result.problems[0].hint and CJK.search(result.problems[0].hint)


def test_local_names_keep_only_a_plain_extension():
    from pipeline.check.package_reader import local_name
    assert local_name(17, "机构/育婴师初级/理论/育婴师初级理论1.MP4") == "000017.mp4"
    assert local_name(3, "a/b.json") == "000003.json"
    assert local_name(3, "a/b") == "000003"
    assert local_name(3, "a/b.tar.gz/../x") == "000003"
    assert local_name(3, "a/b.视频") == "000003"
    assert local_name(3, "a/b.verylongsuffix") == "000003"
