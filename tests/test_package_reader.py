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
import tracemalloc
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import pytest

from pipeline.catalogue import Problem
from pipeline.package_reader import CHUNK, PackageContents, hash_file, read_package
from pipeline.policy import ZipLimits
from tests import zipcraft as zc

SPEC_PKG_CODES = {"PKG_NOT_ZIP", "PKG_CORRUPT", "PKG_ENCRYPTED", "PKG_UNSAFE_PATH", "PKG_LIMIT",
                  "PKG_NAME_ENCODING", "PKG_DUPLICATE_ENTRY", "PKG_EMPTY"}
CJK = re.compile(r"[\u4e00-\u9fff]")
ROOT = "培训机构20240101"


def assert_well_formed(problems: Iterable[Problem]) -> None:
    """Every problem: a spec PKG_* code, a Chinese message, a fatal error."""
    for p in problems:
        assert p.code in SPEC_PKG_CODES, p
        assert CJK.search(p.message), p.message
        assert p.fatal and p.severity.value == "error"


def read(tmp_path: Path, data: bytes, limits: ZipLimits | None = None) -> PackageContents:
    zip_path = tmp_path / "pkg.zip"
    zip_path.write_bytes(data)
    result = read_package(zip_path, tmp_path / "work", limits or ZipLimits())
    assert_well_formed(result.problems)
    if result.problems:
        assert result.files == () and result.directories == ()
        assert list((tmp_path / "work" / "files").iterdir()) == []
    return result


def codes(result: PackageContents) -> list[str]:
    return [p.code for p in result.problems]


def make_zip(members: dict[str, bytes], dirs: Iterable[str] = (),
             compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A normal archive as zipfile (and every modern tool) writes it: UTF-8 flag on
    non-ASCII names."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for d in dirs:
            zf.writestr(zipfile.ZipInfo(d), b"")
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


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
        assert f.local_path.read_bytes() == content
        assert f.local_path.parent == tmp_path / "work" / "files"
        assert re.fullmatch(r"\d{6}", f.local_path.name)
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
    result = read_package(tmp_path / "pkg.zip", work, ZipLimits())
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
    contents = {f.path: f.local_path.read_bytes() for f in result.files}
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
    assert "bad\\xff\\xfe.jpg" in result.problems[0].message
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
    (b"Rar!\x1a\x07\x01\x00" + bytes(100), "RAR"),
    (b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(100), "7z"),
    (gzip.compress(b"hello"), "gzip"),
    (bz2.compress(b"hello"), "bzip2"),
    (lzma.compress(b"hello"), "xz"),
    (_tar_bytes(), "tar"),
    (b"%PDF-1.7\n" + bytes(100), "PDF"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG"),
    (b"\xff\xd8\xff\xe0" + bytes(100), "JPEG"),
    (bytes(random.Random(7).randrange(256) for _ in range(300)), "未知格式"),
    (b"PK", "未知格式"),
    (b"", "空文件"),
])
def test_not_a_zip(tmp_path: Path, data: bytes, label: str) -> None:
    result = read(tmp_path, data)
    assert codes(result) == ["PKG_NOT_ZIP"]
    assert label in result.problems[0].message
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
    assert "不完整" in result.problems[0].message


def test_truncated_in_end_record_is_corrupt(tmp_path: Path) -> None:
    data = make_zip(GOOD)
    assert codes(read(tmp_path, data[:-10])) == ["PKG_CORRUPT"]


def test_broken_central_directory_signature_is_corrupt(tmp_path: Path) -> None:
    data = make_zip(GOOD)
    at = data.rindex(b"PK\x01\x02")
    assert codes(read(tmp_path, zc.patch(data, at, b"PK\x01\x09"))) == ["PKG_CORRUPT"]


@pytest.mark.parametrize(("build", "detail"), [
    (lambda e: zc.build(e, cd_offset_delta=-3), "位置与大小不一致"),
    (lambda e: zc.build(e, zip64=True, cd_offset_delta=5), "位置与大小不一致"),
    (lambda e: zc.build(e, declared_count=1), "条目数与目录大小不符"),
    (lambda e: zc.build(e, declared_count=3), "第 3 个条目已损坏"),
    (lambda e: zc.build(e) + zc.build(e), "拼接"),  # two archives concatenated
])
def test_inconsistent_end_record_is_corrupt(tmp_path: Path, build, detail: str) -> None:  # type: ignore[no-untyped-def]
    entries = [zc.stored("a.txt", b"a"), zc.stored("b.txt", b"b")]
    result = read(tmp_path, build(entries))
    assert codes(result) == ["PKG_CORRUPT"]
    assert detail in result.problems[0].message


def test_malformed_extra_field_is_corrupt(tmp_path: Path) -> None:
    entry = zc.stored("a.txt", b"a", extra=b"\x01\x00\xff\x00\x00")
    assert codes(read(tmp_path, zc.build([entry]))) == ["PKG_CORRUPT"]


def test_local_header_naming_another_file_is_corrupt(tmp_path: Path) -> None:
    entry = zc.stored("a.txt", b"a", local_name=b"b.txt")
    result = read(tmp_path, zc.build([entry]))
    assert codes(result) == ["PKG_CORRUPT"]
    assert result.problems[0].path == "a.txt"
    assert "本地文件头" in result.problems[0].message  # found by the scan, before extraction


def test_bad_crc_is_corrupt_and_nothing_is_left_behind(tmp_path: Path) -> None:
    entries = [zc.stored("a.txt", b"good data"), zc.stored("b.txt", b"precious data")]
    data = zc.build(entries)
    at = data.index(b"precious")
    result = read(tmp_path, zc.patch(data, at, b"X"))
    assert codes(result) == ["PKG_CORRUPT"]
    assert result.problems[0].path == "b.txt"
    assert "b.txt" in result.problems[0].message and "CRC" in result.problems[0].message
    # read() also asserts work/files is empty: a.txt, extracted first, was removed


def test_damaged_deflate_stream_is_corrupt(tmp_path: Path) -> None:
    entry = zc.deflated("a.txt", os.urandom(5000))
    entry = zc.replace(entry, data=b"\xff" * len(entry.data))
    result = read(tmp_path, zc.build([entry]))
    assert codes(result) == ["PKG_CORRUPT"]
    assert "a.txt" in result.problems[0].message


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
    assert result.files[0].local_path.read_bytes() == content[:100]


def test_stored_entry_with_two_sizes_is_corrupt(tmp_path: Path) -> None:
    entry = zc.stored("a.txt", b"abcdef", file_size=3, crc=zlib.crc32(b"abc"))
    result = read(tmp_path, zc.build([entry]))
    assert codes(result) == ["PKG_CORRUPT"]
    assert "大小不一致" in result.problems[0].message


def test_entries_sharing_one_local_header_overlap(tmp_path: Path) -> None:
    entries = [zc.deflated("a.txt", bytes(100_000)), zc.deflated("b.txt", bytes(100_000), local_of=0)]
    result = read(tmp_path, zc.build(entries))
    assert set(codes(result)) == {"PKG_CORRUPT"}
    assert any("重叠" in p.message and p.path == "b.txt" for p in result.problems)


def test_quoted_overlap_entry_data_covering_next_header(tmp_path: Path) -> None:
    """The Fifield-style bomb: each entry's declared data runs over the next local header."""
    a, b = zc.stored("a.txt", b"A" * 100), zc.stored("b.txt", b"B" * 100)
    covering = 100 + 30 + len(b"b.txt") + 100
    a = zc.replace(a, compress_size=covering, file_size=covering)
    result = read(tmp_path, zc.build([a, b]))
    assert codes(result) == ["PKG_CORRUPT"]
    assert "重叠" in result.problems[0].message


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
    assert "培训方案.json" in result.problems[0].message


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
    assert "符号链接" in result.problems[0].message
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
    assert "“..”" in result.problems[1].message and "盘符" in result.problems[2].message


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
    assert unicodedata.normalize("NFC", first) in result.problems[0].message


def test_file_with_the_name_of_a_folder_is_duplicate(tmp_path: Path) -> None:
    result = read(tmp_path, zc.build([zc.stored("a/B", b"1"), zc.stored("A/b/c.txt", b"2")]))
    assert codes(result) == ["PKG_DUPLICATE_ENTRY"]
    assert "“a/B”与“A/b/”" in result.problems[0].message


def test_directory_entry_beside_its_files_is_no_duplicate(tmp_path: Path) -> None:
    result = read(tmp_path, make_zip({"a/b.txt": b"x"}, dirs=["a/", "A/"]))
    assert result.problems == ()
    assert result.ignored == ()


# ---------------------------------------------------------------------------------------
# limits


def test_too_many_entries(tmp_path: Path) -> None:
    data = make_zip({f"f{i}.txt": b"x" for i in range(5)} | {".DS_Store": b"x"})
    result = read(tmp_path, data, ZipLimits(max_entries=5))
    assert codes(result) == ["PKG_LIMIT"]
    assert "6" in result.problems[0].message
    assert read(tmp_path, data, ZipLimits(max_entries=6)).problems == ()


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
    assert "压缩比" in result.problems[0].message and result.problems[0].path == "a/bomb.txt"


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
    messages = " ".join(p.message for p in result.problems)
    assert "单个文件上限" in messages and "总大小" in messages and "压缩比" in messages


def test_entry_size_limit_from_policy(tmp_path: Path) -> None:
    data = make_zip({"a/big.bin": os.urandom(2000), "a/small.bin": b"x"})
    result = read(tmp_path, data, ZipLimits(max_entry_bytes=1000))
    assert codes(result) == ["PKG_LIMIT"]
    assert result.problems[0].path == "a/big.bin"


def test_total_size_limit_from_policy(tmp_path: Path) -> None:
    data = make_zip({f"a/{i}.bin": os.urandom(400) for i in range(3)})
    assert codes(read(tmp_path, data, ZipLimits(max_total_bytes=1000))) == ["PKG_LIMIT"]
    assert read(tmp_path, data, ZipLimits(max_total_bytes=1200)).problems == ()


@pytest.mark.parametrize(("method", "data"), [(12, bz2.compress(b"x" * 100)), (9, b"\x00" * 10),
                                              (14, b"\x00" * 10), (93, b"\x00" * 10)])
def test_unsupported_compression_method(tmp_path: Path, method: int, data: bytes) -> None:
    entry = zc.Entry(name=b"a/x.txt", data=data, crc=zlib.crc32(b"x" * 100), file_size=100,
                     method=method)
    result = read(tmp_path, zc.build([entry]))
    assert codes(result) == ["PKG_LIMIT"]
    assert "压缩方式" in result.problems[0].message


# ---------------------------------------------------------------------------------------
# empty


def test_only_junk_is_empty(tmp_path: Path) -> None:
    data = make_zip({"__MACOSX/._a": b"x", ".DS_Store": b"x", "x/Thumbs.db": b"x"}, dirs=["x/", "y/"])
    result = read(tmp_path, data)
    assert codes(result) == ["PKG_EMPTY"]
    assert "5 个" in result.problems[0].message
    assert result.ignored == (".DS_Store", "__MACOSX/._a", "x/", "x/Thumbs.db", "y/")


def test_zero_entry_zip_is_empty(tmp_path: Path) -> None:
    data = make_zip({})
    assert data.startswith(b"PK\x05\x06")
    result = read(tmp_path, data)
    assert codes(result) == ["PKG_EMPTY"]
    assert result.name_encoding == ""


# ---------------------------------------------------------------------------------------
# streaming extraction


def test_large_member_is_streamed_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """30 MB member: correct hash, every read at most CHUNK, memory far below the size."""
    size = 30 * 1024 * 1024
    rng = random.Random(1)
    expected = hashlib.sha256()
    zip_path = tmp_path / "pkg.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zf, zf.open("v/big.mp4", "w") as dst:
        for _ in range(size // CHUNK):
            block = rng.randbytes(CHUNK)
            expected.update(block)
            dst.write(block)
    reads: list[int] = []
    original = zipfile.ZipExtFile.read

    def spy(self: zipfile.ZipExtFile, n: int = -1) -> bytes:
        reads.append(n)
        return original(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", spy)
    tracemalloc.start()
    try:
        result = read_package(zip_path, tmp_path / "work", ZipLimits())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.problems == ()
    assert result.files[0].size == size
    assert result.files[0].sha256 == expected.hexdigest()
    assert hash_file(result.files[0].local_path) == (size, expected.hexdigest())
    assert reads and all(0 < n <= CHUNK for n in reads)
    assert peak < 8 * CHUNK


def test_more_bytes_than_declared_stops_extraction(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Defensive count: should zipfile ever yield more than the declared size, we stop."""
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, n=-1: b"x" * min(n, 1000))
    result = read(tmp_path, zc.build([zc.stored("a/b.txt", b"abc")]))
    assert codes(result) == ["PKG_LIMIT"]
    assert result.problems[0].path == "a/b.txt"


def test_our_own_io_errors_raise_and_clean_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk error is our fault, not the institution's: it raises instead of blaming the
    package, and leaves no partial files."""
    (tmp_path / "pkg.zip").write_bytes(zc.build([zc.stored("a.txt", b"a"), zc.stored("b.txt", b"b")]))
    original = zipfile.ZipExtFile.read

    def failing(self: zipfile.ZipExtFile, n: int = -1) -> bytes:
        if self.name == "b.txt":
            raise OSError(errno.EIO, "I/O error")
        return original(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", failing)
    with pytest.raises(OSError):
        read_package(tmp_path / "pkg.zip", tmp_path / "work", ZipLimits())
    assert list((tmp_path / "work" / "files").iterdir()) == []


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
        assert CJK.search(result.problems[0].message)
        assert result.problems[0].hint and CJK.search(result.problems[0].hint)
