"""JPEG photos as they really come (issue 13): damaged picture data, unusual JPEG variants,
and the many ordinary neighbours that must stay accepted.

Every file is made by :mod:`tests.support.jpegcraft` (Pillow and byte surgery): camera- and
app-like photos, and files like the real ones of decoder test suites (libjpeg-turbo,
Pillow, image-rs/jpeg-decoder) the checks were surveyed against, each kind made to keep
what its real file stood for; no file from elsewhere is kept in this repository.
Measuring is tested on the facts it records (``damage``, ``variant``, ``decoded``),
judging on codes and parameters.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import simplejpeg
from PIL import Image, ImageCms, JpegImagePlugin, UnidentifiedImageError

from pipeline.check import measure as m
from pipeline.check.measure import Measurement, measure_photo, measure_screenshot
from pipeline.check.measure.facts import BROKEN_PICTURE_DATA, DAMAGED_PICTURE_DATA, TRUNCATED_PICTURE
from pipeline.check.policy import load_policy
from pipeline.check.rules.media import judge_photo, judge_screenshot
from tests.support import jpegcraft as jc
from tests.support import media

RULES = load_policy().media
ORDINARY = "普通 JPEG（基线或渐进式）"


def measured(tmp_path: Path, data: bytes, name: str = "育婴师初级理论1.jpg") -> tuple[Measurement, list[str]]:
    path = tmp_path / name
    path.write_bytes(data)
    got = measure_photo(path, RULES.photo_max_pixels)
    return got, [p.code for p in judge_photo(got, RULES, f"机构/育婴师初级/理论/{name}")]


def problems_of(tmp_path: Path, data: bytes):
    path = tmp_path / "育婴师初级理论1.jpg"
    path.write_bytes(data)
    return judge_photo(measure_photo(path, RULES.photo_max_pixels), RULES, "育婴师初级理论1.jpg")


@pytest.fixture
def decodes(monkeypatch):
    """Record every decode: ("strict", n) for libjpeg-turbo, ("pillow", size) for Pillow."""
    calls: list[tuple[str, object]] = []
    strict, pillow = simplejpeg.decode_jpeg, JpegImagePlugin.JpegImageFile.load

    def decode_jpeg(data, *args, **kwargs):
        calls.append(("strict", len(data)))
        return strict(data, *args, **kwargs)

    def load(self):
        if self.tile:  # a decode still to do (load() of a decoded picture returns its pixels)
            calls.append(("pillow", self.size))
        return pillow(self)

    monkeypatch.setattr(simplejpeg, "decode_jpeg", decode_jpeg)
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", load)
    return calls


# -- damaged picture data ------------------------------------------------------------------

@pytest.mark.parametrize("save", [{}, {"progressive": True}, {"restart_marker_blocks": 16},
                                  {"restart_marker_rows": 1}, {"subsampling": 0}])
def test_photo_damaged_in_the_middle_is_img_corrupt(tmp_path, save):
    intact = jc.photo(**save)
    got, codes = measured(tmp_path, intact)
    assert codes == [] and got.damage is None
    got, codes = measured(tmp_path, jc.damaged(intact))
    assert got.damage == DAMAGED_PICTURE_DATA and got.decoded and (got.width, got.height) == (1920, 1080)
    assert codes == ["IMG_CORRUPT"]


@pytest.mark.parametrize("at, length, seed", [(0.02, 16, 2), (0.3, 200, 3), (0.7, 32, 4), (0.98, 8, 5)])
def test_damage_anywhere_in_the_picture_data_is_found(tmp_path, at, length, seed):
    # (not every damage can be found: a few random bytes amid dense detail often still
    # decode as valid codes, and libjpeg notices nothing)
    got, codes = measured(tmp_path, jc.damaged(jc.photo(), at=at, length=length, seed=seed))
    assert got.damage == DAMAGED_PICTURE_DATA and codes == ["IMG_CORRUPT"]


def test_small_damaged_photo_reports_both_its_damage_and_its_resolution(tmp_path):
    got, codes = measured(tmp_path, jc.damaged(jc.photo(1024, 576)))
    assert codes == ["IMG_CORRUPT", "IMG_RESOLUTION"]
    assert got.decoded and (got.width, got.height) == (1024, 576)


def test_damage_detail_reads_for_a_clerk(tmp_path):
    (problem,) = problems_of(tmp_path, jc.damaged(jc.photo()))
    assert problem.params["detail"] == DAMAGED_PICTURE_DATA
    assert problem.message == ("照片“育婴师初级理论1.jpg”已损坏或不完整：图像数据中间有错误，"
                               "部分画面可能花屏、出现色块或错位。")
    assert problem.hint == "请重新导出或拷贝该照片后再压缩上传。"
    assert "JPEG" not in problem.message and "Corrupt" not in problem.message


def test_truncation_and_zero_filled_tail_keep_their_details(tmp_path):
    data = jc.photo()
    for cut in (data[: len(data) // 2], jc.photo(progressive=True)[:100_000]):
        got, codes = measured(tmp_path, cut)
        assert got.damage == TRUNCATED_PICTURE and "截断" in got.damage and codes == ["IMG_CORRUPT"]
    cut = int(len(data) * 0.7)
    got, codes = measured(tmp_path, data[:cut] + bytes(len(data) - cut))
    assert got.damage == m.ZERO_FILLED_TAIL and codes == ["IMG_CORRUPT"]


def test_missing_end_marker_alone_is_no_damage_but_a_cut_progressive_picture_is(tmp_path, decodes):
    # decision: a sequential picture whose data is complete lacks only the 2-byte end
    # marker (some encoders never write it): it displays whole everywhere
    got, codes = measured(tmp_path, jc.without_eoi(jc.photo()))
    assert got.damage is None and codes == []
    assert [kind for kind, _ in decodes] == ["strict", "strict"]  # the retry with an end marker
    # a progressive picture cannot show that all its scans are there: still truncated
    got, codes = measured(tmp_path, jc.without_eoi(jc.photo(progressive=True)))
    assert got.damage == TRUNCATED_PICTURE and codes == ["IMG_CORRUPT"]
    # a sequential picture cut short stays truncated, end marker or not
    data = jc.photo()
    got, codes = measured(tmp_path, data[: len(data) * 3 // 4])
    assert got.damage == TRUNCATED_PICTURE


def test_an_error_that_stops_the_decode_is_broken_picture_data(tmp_path):
    data = jc.photo()
    pos = jc.scan_start(data) + 5000
    got, codes = measured(tmp_path, data[:pos] + b"\xff\xf7\x00\x04\x00\x00" + data[pos:])  # an unknown marker
    assert got.damage == BROKEN_PICTURE_DATA and codes == ["IMG_CORRUPT"]


# -- JPEG variants: valid, but never decoded -------------------------------------------------

@pytest.mark.parametrize("marker, variant, detected", [
    (0xC9, "arithmetic", "算术编码的 JPEG（不常见的 JPEG 变体）"),
    (0xCA, "arithmetic", "算术编码的 JPEG（不常见的 JPEG 变体）"),
    (0xC3, "lossless", "无损压缩的 JPEG（不常见的 JPEG 变体）"),
    (0xCB, "lossless", "无损压缩的 JPEG（不常见的 JPEG 变体）"),
    (0xC5, "hierarchical", "分层编码的 JPEG（不常见的 JPEG 变体）"),
    (0xCF, "hierarchical", "分层编码的 JPEG（不常见的 JPEG 变体）"),
    (0xF7, "JPEG-LS", "JPEG-LS（不常见的 JPEG 变体）"),
])
def test_frame_header_names_the_variant_before_any_decode(tmp_path, decodes, marker, variant, detected):
    got, codes = measured(tmp_path, jc.with_frame_marker(jc.photo(), marker))
    assert got.variant == variant and got.damage is None and not got.decoded
    assert got.format == "JPEG" and got.format_recognised and (got.width, got.height) == (1920, 1080)
    (problem,) = problems_of(tmp_path, jc.with_frame_marker(jc.photo(), marker))
    assert problem.code == "IMG_FORMAT"
    assert problem.params["detected"] == detected and problem.params["expected"] == ORDINARY
    assert decodes == []


def test_other_sample_precisions_are_variants_but_nonsense_ones_a_broken_header(tmp_path):
    got, codes = measured(tmp_path, jc.with_precision(jc.photo(), 12))
    assert got.variant == "12-bit" and codes == ["IMG_FORMAT"]
    assert problems_of(tmp_path, jc.with_precision(jc.photo(), 12))[0].params["detected"] == (
        "12 位色深的 JPEG（不常见的 JPEG 变体）")
    got, codes = measured(tmp_path, jc.with_precision(jc.photo(), 9))
    assert got.variant is None and got.damage == m.BROKEN_HEADER and codes == ["IMG_CORRUPT"]


def test_variant_message_says_to_resave_as_an_ordinary_jpeg(tmp_path):
    (problem,) = problems_of(tmp_path, jc.arithmetic(jc.photo()))
    assert problem.message == ("照片“育婴师初级理论1.jpg”的实际格式为 算术编码的 JPEG（不常见的 JPEG 变体），"
                               "不是 普通 JPEG（基线或渐进式）。")
    assert problem.hint.startswith("请用相机或手机导出为 普通 JPEG（基线或渐进式） 格式")
    assert "损坏" not in problem.message


def test_a_screenshot_variant_expects_an_ordinary_jpeg_or_png(tmp_path):
    path = tmp_path / "线上培训截图1.jpg"
    path.write_bytes(jc.twelve_bit(jc.photo()))
    got = measure_screenshot(path, RULES.photo_max_pixels)
    (problem,) = judge_screenshot(got, RULES, "x/线上培训截图1.jpg")
    assert problem.code == "IMG_FORMAT" and problem.params["expected"] == f"{ORDINARY} 或 PNG"


def test_variant_judging_on_made_up_facts():
    variant = Measurement("photo", 3 * 1024**2, format="JPEG", width=800, height=600, detected="JPEG",
                          format_recognised=True, variant="arithmetic")
    assert [p.code for p in judge_photo(variant, RULES, "a.jpg")] == ["IMG_SIZE", "IMG_FORMAT"]
    damaged = dataclasses.replace(variant, damage="图像数据已损坏")
    assert [p.code for p in judge_photo(damaged, RULES, "a.jpg")] == ["IMG_SIZE", "IMG_CORRUPT"]
    assert variant.manifest_fields()["format"] == "JPEG"


# -- files like those of decoder test suites ---------------------------------------------

#: the real files of decoder test suites (libjpeg-turbo, Pillow, image-rs/jpeg-decoder) the
#: JPEG checks were surveyed against, each made here (no such file is kept): name ->
#: (maker, damage, variant, codes, decoder). All smaller than 1280×720, none whole MCUs.
#: decoder: libjpeg-turbo on the whole file ("strict"), on the header rebuilt without
#: its extras ("rebuilt": a header libjpeg warns about), Pillow ("pillow": a header
#: TurboJPEG refuses), or none (a variant).
SIZE = (637, 421)
RES = ["IMG_RESOLUTION"]
DAMAGED = (DAMAGED_PICTURE_DATA, None, ["IMG_CORRUPT", "IMG_RESOLUTION"], "strict")
SUITE_FILES = {
    # ordinary JPEGs: intact
    "baseline.jpg": (lambda: jc.photo(*SIZE), None, None, RES, "strict"),
    "progressive.jpg": (lambda: jc.photo(*SIZE, progressive=True), None, None, RES, "strict"),
    "restarts.jpg": (lambda: jc.photo(*SIZE, restart_marker_blocks=7), None, None, RES, "strict"),
    "gray.jpg": (lambda: jc.photo(*SIZE, mode="L"), None, None, RES, "strict"),
    "cmyk_adobe.jpg": (lambda: jc.ycck(*SIZE), None, None, RES, "strict"),  # YCCK with an Adobe segment
    # CMYK with its C channel sampled 2×2, K 1×1: TurboJPEG refuses the header, Pillow decodes
    "cmyk_odd_sampling.jpg": (lambda: jc.photo(*SIZE, mode="CMYK", subsampling=2), None, None, RES, "pillow"),
    "phone.mpo": (lambda: jc.mpo(*SIZE), None, None, RES, "strict"),
    "orientation6.jpg": (lambda: jc.photo(*SIZE, exif=jc.exif_orientation(6)), None, None, RES, "strict"),
    # odd headers, pictures intact (they display everywhere): libjpeg warns about junk
    # between segments and broken ICC chunks; an ICC profile after the frame header it
    # takes as is (Pillow overlooks that profile)
    "junk_between_segments.jpg": (lambda: jc.with_junk_before(jc.photo(*SIZE), 0xC0), None, None, RES, "rebuilt"),
    "bad_icc_chunks.jpg": (lambda: jc.with_icc_chunks(jc.photo(*SIZE), ((1, 3), (2, 3), (2, 3))),
                           None, None, RES, "rebuilt"),
    "icc_after_sof.jpg": (lambda: jc.with_icc_after_frame(jc.photo(*SIZE, icc_profile=jc.srgb_profile())),
                          None, None, RES, "strict"),
    # damaged picture data that Pillow accepts
    "damaged_progressive.jpg": (lambda: jc.damaged(jc.photo(*SIZE, progressive=True)), *DAMAGED),
    "damaged_baseline_gray.jpg": (lambda: jc.damaged(jc.photo(*SIZE, mode="L")), *DAMAGED),
    # the first scan (all DC coefficients) missing: "Inconsistent progression sequence"
    "progressive_missing_dc.jpg": (lambda: jc.without_scan(jc.photo(*SIZE, progressive=True), 0), *DAMAGED),
    # decision: bytes between the picture data and the end marker are what damage looks
    # like most often, so they are damage (the real file's 6 were inserted on purpose)
    "bytes_before_eoi.jpg": (lambda: jc.with_bytes_before_eoi(jc.photo(*SIZE), bytes(range(1, 7))), *DAMAGED),
    "truncated_progressive.jpg": (lambda: jc.photo(*SIZE, progressive=True)[:50_000],
                                  TRUNCATED_PICTURE, None, ["IMG_CORRUPT", "IMG_RESOLUTION"], "strict"),
    # valid JPEG variants (Pillow calls the last two a broken header)
    "arithmetic.jpg": (lambda: jc.arithmetic(jc.photo(*SIZE)), None, "arithmetic", ["IMG_FORMAT"], None),
    "12bit.jpg": (lambda: jc.twelve_bit(jc.photo(*SIZE)), None, "12-bit", ["IMG_FORMAT"], None),
    "lossless16.jpg": (lambda: jc.lossless(jc.photo(*SIZE), 16), None, "lossless", ["IMG_FORMAT"], None),
}


def _decoder(decodes: list[tuple[str, object]], size: int) -> str | None:
    if not decodes:
        return None
    ((kind, what),) = decodes
    return "rebuilt" if kind == "strict" and what < size else kind


@pytest.mark.parametrize("name", sorted(SUITE_FILES))
def test_files_like_decoder_test_suites(tmp_path, decodes, name):
    make, damage, variant, codes, decoder = SUITE_FILES[name]
    data = make()
    decodes.clear()  # making the file decoded some
    got, got_codes = measured(tmp_path, data, name)
    assert (got.damage, got.variant, got_codes) == (damage, variant, codes)
    assert got.format == "JPEG" and got.format_recognised
    assert (got.width, got.height) == (SIZE[::-1] if name == "orientation6.jpg" else SIZE)
    assert _decoder(decodes, len(data)) == decoder


def test_pillow_alone_misses_the_damage_and_refuses_two_variants():
    # what made the real files worth a test: Pillow decodes the damaged ones without a
    # word (only libjpeg's warnings tell), and takes 12- and 16-bit headers for broken
    for make, damage, *_ in SUITE_FILES.values():
        if damage == DAMAGED_PICTURE_DATA:
            with Image.open(io.BytesIO(make())) as im:
                im.load()
    for name in ("12bit.jpg", "lossless16.jpg"):
        with pytest.raises(UnidentifiedImageError):
            Image.open(io.BytesIO(SUITE_FILES[name][0]()))


# -- ordinary neighbours stay accepted, decoded once ------------------------------------------

def _neighbours() -> dict[str, bytes]:
    base = jc.photo()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    thumbnail = jc.photo(160, 120)
    return {
        "4:2:0": base, "4:4:4": jc.photo(subsampling=0), "4:2:2": jc.photo(subsampling=1),
        "progressive": jc.photo(progressive=True),
        "restart every 16 blocks": jc.photo(restart_marker_blocks=16),
        "restart every row": jc.photo(restart_marker_rows=1),
        "grayscale": jc.photo(mode="L"), "CMYK": jc.photo(mode="CMYK", quality=60),
        "Adobe RGB (no transform)": jc.photo(keep_rgb=True, quality=60),
        "ICC profile": jc.photo(icc_profile=icc),
        "ICC profile over 3 segments": jc.photo(icc_profile=icc + bytes(150_000)),
        "EXIF thumbnail": jc.with_exif_thumbnail(base, 1, thumbnail),
        "64 KB APP12 and COM": jc.with_segment(jc.with_segment(base, 0xEC, bytes(65000)), 0xFE, b"x" * 65000),
        "stray bytes between segments": jc.with_stray_bytes_after_app0(base),
        "random trailer after EOI": base + media.random_bytes(5000),
        "zero padding after EOI": base + bytes(4096),
        "a second JPEG after EOI": base + thumbnail,
        "MPO": jc.mpo(),
    }


@pytest.mark.parametrize("name", list(_neighbours()))
def test_ordinary_neighbours_pass_with_one_strict_decode(tmp_path, decodes, name):
    data = _neighbours()[name]
    decodes.clear()  # making the files decoded some
    got, codes = measured(tmp_path, data)
    assert codes == [] and got.damage is None and got.variant is None and got.decoded
    assert (got.format, got.width, got.height) == ("JPEG", 1920, 1080)
    ((kind, decoded_bytes),) = decodes  # one decode, libjpeg-turbo's
    assert kind == "strict"
    # the whole file (mapped) or, for a header libjpeg warns about, the header rebuilt
    # without application segments and stray bytes
    assert decoded_bytes == len(data) if "stray" not in name else decoded_bytes < len(data)


def test_portrait_photo_with_exif_thumbnail_reports_its_displayed_size(tmp_path):
    got, codes = measured(tmp_path, jc.with_exif_thumbnail(jc.photo(), 6, jc.photo(160, 120)))
    assert (got.width, got.height) == (1080, 1920) and codes == []


@pytest.mark.parametrize("header_fault", ["stray bytes", "bad ICC chunk"])
def test_a_header_libjpeg_warns_about_still_has_its_picture_data_judged(tmp_path, decodes, header_fault):
    def faulty(data: bytes) -> bytes:
        if header_fault == "stray bytes":
            return jc.with_stray_bytes_after_app0(data)
        return jc.with_segment(data, 0xE2, b"ICC_PROFILE\0" + bytes([2, 1]) + b"chunk 2 of 1")

    intact, damaged = faulty(jc.photo()), faulty(jc.damaged(jc.photo()))
    decodes.clear()
    got, codes = measured(tmp_path, intact)
    assert got.damage is None and codes == []
    got, codes = measured(tmp_path, damaged)
    assert got.damage == DAMAGED_PICTURE_DATA and codes == ["IMG_CORRUPT"]
    assert [kind for kind, _ in decodes] == ["strict", "strict"]  # libjpeg-turbo judged both


def test_a_header_turbojpeg_refuses_is_decoded_by_pillow_as_before(tmp_path, decodes, monkeypatch):
    def refuse(*args, **kwargs):
        raise ValueError("tjDecompressHeader3(): Could not determine subsampling level of JPEG image")

    monkeypatch.setattr(simplejpeg, "decode_jpeg_header", refuse)
    got, codes = measured(tmp_path, jc.photo())
    assert got.damage is None and codes == [] and [kind for kind, _ in decodes] == ["pillow"]
    data = jc.photo()
    got, codes = measured(tmp_path, data[: len(data) // 2])
    assert got.damage == TRUNCATED_PICTURE and codes == ["IMG_CORRUPT"]


def test_strict_decode_is_at_one_eighth_scale(monkeypatch, tmp_path):
    shapes = []
    original = simplejpeg.decode_jpeg

    def decode_jpeg(*args, **kwargs):
        image = original(*args, **kwargs)
        shapes.append(image.shape)
        return image

    monkeypatch.setattr(simplejpeg, "decode_jpeg", decode_jpeg)
    measured(tmp_path, jc.photo())
    assert shapes == [(135, 240, 3)]


def test_operator_tool_names_a_damaged_photo(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(jc.damaged(jc.photo()))
    out = subprocess.run([sys.executable, "-m", "pipeline", "media", str(path)], capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).resolve().parent.parent)
    line = json.loads(out.stdout)
    assert [p["code"] for p in line["problems"]] == ["IMG_CORRUPT"] and out.returncode == 0
