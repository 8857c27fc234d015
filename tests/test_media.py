"""Media checks (spec section 3) with real files: every rule both ways."""

from __future__ import annotations

import dataclasses
import io
import os
import sys
import threading
from pathlib import Path

import psutil
import pytest
from PIL import Image, JpegImagePlugin

from pipeline.check import measure as m
from pipeline.check.measure import Measurement, ProbeUnavailable, measure_many, measure_photo, measure_video
from pipeline.check.policy import MediaRules
from tests import media

RULES = MediaRules()
FAST = dataclasses.replace(RULES, video_probe_timeout_seconds=1.0)


def codes(measurement: Measurement) -> list[str]:
    return [p.code for p in measurement.problems]


def photo(tmp_path: Path, data: bytes, name: str = "育婴师初级理论1.jpg", rules: MediaRules = RULES,
          **kwargs) -> Measurement:
    path = tmp_path / name
    path.write_bytes(data)
    return measure_photo(path, name, f"机构20261120/育婴师初级/理论/{name}", rules, **kwargs)


def video(tmp_path: Path, data: bytes, name: str = "育婴师初级理论1.mp4",
          rules: MediaRules = RULES) -> Measurement:
    path = tmp_path / name
    path.write_bytes(data)
    return measure_video(path, name, f"机构20261120/育婴师初级/理论/{name}", rules)


# -- photos ------------------------------------------------------------------------------

def test_good_jpeg_passes_and_reports_its_measurements(tmp_path):
    got = photo(tmp_path, media.jpeg(1920, 1080))
    assert got.problems == ()
    assert got.manifest_fields() == {"kind": "photo", "format": "JPEG", "width": 1920, "height": 1080,
                                     "duration": None, "codec": None}


def test_small_photo_is_img_resolution_naming_measured_and_required(tmp_path):
    got = photo(tmp_path, media.jpeg(1024, 576))
    assert codes(got) == ["IMG_RESOLUTION"]
    p = got.problems[0]
    assert "1024×576" in p.message and "1280×720" in p.message and "育婴师初级理论1.jpg" in p.message
    assert p.path == "机构20261120/育婴师初级/理论/育婴师初级理论1.jpg"
    assert "1280" in p.hint and "720" in p.hint


@pytest.mark.parametrize("size, ok", [((1080, 1920), True), ((1280, 720), True), ((1280, 700), False),
                                      ((1200, 800), False), ((700, 1280), False)])
def test_resolution_is_long_side_and_short_side(tmp_path, size, ok):
    got = photo(tmp_path, media.jpeg(*size))
    assert codes(got) == ([] if ok else ["IMG_RESOLUTION"])
    assert (got.width, got.height) == size


def test_exif_orientation_6_reports_displayed_size_and_passes(tmp_path):
    data = media.jpeg(1280, 720, exif_orientation=6)
    assert Image.open(io.BytesIO(data)).size == (1280, 720)  # stored landscape
    got = photo(tmp_path, data)
    assert (got.width, got.height) == (720, 1280)
    assert got.problems == ()


def test_exif_orientation_3_does_not_swap(tmp_path):
    got = photo(tmp_path, media.jpeg(1280, 720, exif_orientation=3))
    assert (got.width, got.height) == (1280, 720)


def test_resolution_rule_follows_the_policy(tmp_path):
    strict = dataclasses.replace(RULES, min_long_side=2000, min_short_side=1000)
    got = photo(tmp_path, media.jpeg(1920, 1080), rules=strict)
    assert codes(got) == ["IMG_RESOLUTION"] and "2000×1000" in got.problems[0].message


def test_photo_over_2_mib_is_img_size_and_still_checked_otherwise(tmp_path):
    data = media.jpeg(1920, 1080, quality=95, noise=True)
    assert len(data) > RULES.photo_max_bytes
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    got = photo(tmp_path, data)
    assert codes(got) == ["IMG_SIZE"]
    assert "MB" in got.problems[0].message and "2.00 MB" in got.problems[0].message
    # every fault of the file: an oversized, truncated, small photo reports all three
    tiny = dataclasses.replace(RULES, photo_max_bytes=100_000)
    got = photo(tmp_path, media.truncated(media.jpeg(1024, 576, noise=True), 0.9), rules=tiny)
    assert sorted(codes(got)) == ["IMG_CORRUPT", "IMG_RESOLUTION", "IMG_SIZE"]


@pytest.mark.parametrize("maker, detected", [(media.png, "PNG"), (media.webp, "WebP"), (media.gif, "GIF")])
def test_other_formats_renamed_jpg_are_img_format(tmp_path, maker, detected):
    got = photo(tmp_path, maker(1920, 1080))
    assert codes(got) == ["IMG_FORMAT"]
    assert got.format == detected
    assert f"实际格式为 {detected}，不是 JPEG" in got.problems[0].message


def test_heic_renamed_jpg_is_img_format_heic(tmp_path):
    # the first bytes of an iPhone photo (ftyp box, major brand heic); Pillow cannot write one
    head = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00\x00\x01\x00meta"
    got = photo(tmp_path, head + media.random_bytes(5000))
    assert codes(got) == ["IMG_FORMAT"] and got.format == "HEIC"
    assert "HEIC" in got.problems[0].message and "兼容性最佳" in got.problems[0].hint


def test_mpo_from_a_phone_counts_as_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (1920, 1080), "red").save(buf, "MPO", save_all=True,
                                                append_images=[Image.new("RGB", (1920, 1080), "blue")])
    assert Image.open(io.BytesIO(buf.getvalue())).format == "MPO"
    got = photo(tmp_path, buf.getvalue())
    assert got.problems == () and got.format == "JPEG"


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95, 0.999])
def test_truncated_jpeg_is_img_corrupt(tmp_path, keep):
    for noise in (False, True):
        got = photo(tmp_path, media.truncated(media.jpeg(noise=noise), keep))
        assert codes(got) == ["IMG_CORRUPT"], (keep, noise)
        assert "截断" in got.problems[0].message
        assert (got.width, got.height) == (1920, 1080)  # the header is still there


def test_progressive_jpeg_passes_and_truncated_fails(tmp_path):
    buf = io.BytesIO()
    Image.open(io.BytesIO(media.jpeg())).save(buf, "JPEG", progressive=True, quality=85)
    assert photo(tmp_path, buf.getvalue()).problems == ()
    assert codes(photo(tmp_path, media.truncated(buf.getvalue(), 0.9))) == ["IMG_CORRUPT"]


def test_zero_filled_tail_is_img_corrupt_but_padding_after_eoi_is_not(tmp_path):
    data = media.jpeg(noise=True)
    cut = int(len(data) * 0.7)
    got = photo(tmp_path, data[:cut] + bytes(len(data) - cut))  # an interrupted pre-allocated copy
    assert codes(got) == ["IMG_CORRUPT"]
    assert photo(tmp_path, media.jpeg() + bytes(4096)).problems == ()  # camera padding after EOI


def test_random_bytes_are_img_format_unknown(tmp_path):
    # decision: bytes that are no known format are a format problem ("未知格式")
    got = photo(tmp_path, media.random_bytes())
    assert codes(got) == ["IMG_FORMAT"] and got.format is None
    assert "未知格式" in got.problems[0].message


def test_jpeg_magic_with_a_broken_header_is_img_corrupt(tmp_path):
    got = photo(tmp_path, b"\xff\xd8\xff\xe0" + media.random_bytes(5000))
    assert codes(got) == ["IMG_CORRUPT"]


def test_empty_files_are_corrupt(tmp_path):
    # decision: an empty file is an interrupted copy, not a format
    got = photo(tmp_path, b"")
    assert codes(got) == ["IMG_CORRUPT"] and "0 字节" in got.problems[0].message
    got = video(tmp_path, b"")
    assert codes(got) == ["VID_CORRUPT"] and "0 字节" in got.problems[0].message


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail (by recording) if any JPEG gets decoded."""
    calls: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.load

    def load(self):
        calls.append(self.size)
        return original(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", load)
    return calls


def test_bomb_header_is_img_corrupt_without_decoding(tmp_path, no_decoding):
    data = media.jpeg_claiming(50000, 50000)
    assert len(data) < 10_000
    got = photo(tmp_path, data)
    assert codes(got) == ["IMG_CORRUPT"]
    assert "50000×50000" in got.problems[0].message
    assert no_decoding == []


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bomb_guard_is_the_policys_not_pillows(tmp_path, no_decoding):
    # 12000×10000 = 120 MP: Pillow only warns (its own limit is 179 MP); the policy's 100 MP refuses
    got = photo(tmp_path, media.jpeg_claiming(12000, 10000))
    assert codes(got) == ["IMG_CORRUPT"] and "12000×10000" in got.problems[0].message
    tight = dataclasses.replace(RULES, photo_max_pixels=1_000_000)
    got = photo(tmp_path, media.jpeg(1920, 1080), rules=tight)
    assert codes(got) == ["IMG_CORRUPT"] and "1920×1080" in got.problems[0].message
    assert no_decoding == []
    assert photo(tmp_path, media.jpeg(1920, 1080)).problems == ()
    assert len(no_decoding) == 1  # and the ordinary photo did decode


def test_screenshot_mode_accepts_png_with_its_own_size_limit(tmp_path):
    shot = dict(max_bytes=RULES.screenshot_max_bytes, allowed_formats=("JPEG", "PNG"), check_resolution=False)
    got = photo(tmp_path, media.png(800, 600), "线上培训截图1.png", **shot)
    assert got.problems == () and got.format == "PNG" and (got.width, got.height) == (800, 600)
    big = media.jpeg(1920, 1080, quality=95, noise=True)
    assert codes(photo(tmp_path, big, "线上培训截图2.jpg", **shot)) == []  # 2.4 MB < 5 MiB
    got = photo(tmp_path, media.webp(800, 600), "线上培训截图3.png", **shot)
    assert codes(got) == ["IMG_FORMAT"] and "不是 JPEG 或 PNG" in got.problems[0].message
    assert codes(photo(tmp_path, media.truncated(media.png(800, 600)), "线上培训截图4.png", **shot)) == ["IMG_CORRUPT"]


# -- videos ------------------------------------------------------------------------------

def test_good_mp4_passes_with_its_measurements(tmp_path):
    got = video(tmp_path, media.mp4(150))
    assert got.problems == ()
    assert got.manifest_fields() == {"kind": "video", "format": "MPEG-4", "width": 1280, "height": 720,
                                     "duration": pytest.approx(150, abs=0.1), "codec": "AVC"}


@pytest.mark.parametrize("seconds, ok", [(100, False), (119.4, False), (119.6, True), (120, True),
                                         (180, True), (180.4, True), (180.6, False), (200, False)])
def test_duration_range_with_tolerance(tmp_path, seconds, ok):
    got = video(tmp_path, media.mp4(seconds))
    assert got.duration == pytest.approx(seconds, abs=0.01)
    assert codes(got) == ([] if ok else ["VID_DURATION"])
    if not ok:
        message = got.problems[0].message
        assert "2分钟 至 3分钟" in message and f"{seconds:.1f} 秒" in message


def test_duration_message_reads_like_minutes_and_seconds(tmp_path):
    got = video(tmp_path, media.mp4(95))
    assert "1分35秒（95.0 秒）" in got.problems[0].message
    assert m.format_duration(119.4) == "1分59.4秒" and m.format_duration(45) == "45 秒"


def test_small_video_is_vid_resolution(tmp_path):
    got = video(tmp_path, media.mp4(150, 640, 360))
    assert codes(got) == ["VID_RESOLUTION"]
    assert "640×360" in got.problems[0].message and "1280×720" in got.problems[0].message


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotated_video_reports_displayed_size_and_passes(tmp_path, rotation):
    got = video(tmp_path, media.mp4(150, 1280, 720, rotation=rotation))
    assert (got.width, got.height) == (720, 1280)
    assert got.problems == ()


def test_rotated_small_video_still_fails(tmp_path):
    got = video(tmp_path, media.mp4(150, 1280, 700, rotation=90))
    assert (got.width, got.height) == (700, 1280) and codes(got) == ["VID_RESOLUTION"]


def test_mov_renamed_mp4_is_vid_format_unless_the_policy_accepts_it(tmp_path):
    data = media.mp4(150, container="mov")
    assert data[4:12] == b"ftypqt  "
    got = video(tmp_path, data)
    assert codes(got) == ["VID_FORMAT"] and got.format == "QuickTime"
    assert "QuickTime" in got.problems[0].message and "MP4" in got.problems[0].message
    lenient = dataclasses.replace(RULES, refuse_mov=False)
    assert video(tmp_path, data, rules=lenient).problems == ()


def test_other_codec_is_a_warning_only(tmp_path):
    for codec, name in (("mpeg4", "MPEG-4 Visual"), ("libx265", "HEVC")):
        got = video(tmp_path, media.mp4(150, codec=codec))
        assert codes(got) == ["W_VIDEO_CODEC"] and got.codec == name
        assert got.problems[0].severity.value == "warning"
        assert "H.264" in got.problems[0].message


def test_truncated_mp4_is_vid_corrupt(tmp_path):
    for keep in (0.3, 0.6, 0.95):
        got = video(tmp_path, media.truncated(media.mp4(150), keep))
        assert codes(got) == ["VID_CORRUPT"], keep
        assert "截断" in got.problems[0].message


def test_mp4_without_moov_is_vid_corrupt(tmp_path):
    data = media.without_moov(media.mp4(150))
    assert b"moov" not in data and data[4:8] == b"ftyp"
    got = video(tmp_path, data)
    assert codes(got) == ["VID_CORRUPT"] and "moov" in got.problems[0].message


def test_mp4_without_a_video_track_is_vid_corrupt(tmp_path):
    got = video(tmp_path, media.audio_mp4(150))
    assert codes(got) == ["VID_CORRUPT"] and "没有视频" in got.problems[0].message


def test_unrecognisable_mp4_is_vid_corrupt_not_format(tmp_path):
    got = video(tmp_path, media.mp4(150)[:32] + media.random_bytes(5000))  # ftyp, then garbage
    assert codes(got) == ["VID_CORRUPT"]


def test_load_truncated_images_switched_on_is_our_fault(tmp_path, monkeypatch):
    from PIL import ImageFile
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError):
        photo(tmp_path, media.jpeg())


def test_random_bytes_are_vid_format_unknown(tmp_path):
    # decision: bytes libmediainfo recognises as nothing are a format problem ("未知格式")
    got = video(tmp_path, media.random_bytes())
    assert codes(got) == ["VID_FORMAT"] and "未知格式" in got.problems[0].message
    got = video(tmp_path, media.jpeg())  # a photo renamed .mp4: only the format is wrong
    assert codes(got) == ["VID_FORMAT"] and "JPEG" in got.problems[0].message


def test_oversized_video_is_vid_size_and_still_probed(tmp_path):
    tiny = dataclasses.replace(RULES, video_max_bytes=10_000)
    got = video(tmp_path, media.mp4(100), rules=tiny)
    assert codes(got) == ["VID_SIZE", "VID_DURATION"]
    assert "9.8 KB" in got.problems[0].message


def test_hanging_probe_child_is_killed(tmp_path, monkeypatch):
    pid_file = tmp_path / "pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    monkeypatch.setattr(m, "_probe_server_argv", lambda: [sys.executable, "-c", code])
    got = video(tmp_path, media.mp4(150), rules=FAST)
    assert codes(got) == ["VID_CORRUPT"]
    assert "超时" in got.problems[0].message and "1 秒" in got.problems[0].message
    pid = int(pid_file.read_text())
    assert not psutil.pid_exists(pid)  # killed and reaped, no zombie
    assert not [p for p in psutil.Process().children(recursive=True) if p.pid == pid]


def test_crashing_probe_is_vid_corrupt(tmp_path, monkeypatch):
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    monkeypatch.setattr(m, "_probe_server_argv", lambda: [sys.executable, "-c", code])
    got = video(tmp_path, media.mp4(150))
    assert codes(got) == ["VID_CORRUPT"] and "SIGSEGV" in got.problems[0].message
    monkeypatch.setattr(m, "_probe_server_argv", lambda: [sys.executable, "-c", "raise SystemExit(1)"])
    assert codes(video(tmp_path, media.mp4(150))) == ["VID_CORRUPT"]
    monkeypatch.setattr(m, "_probe_server_argv", lambda: [sys.executable, "-c", "print('not json')"])
    assert codes(video(tmp_path, media.mp4(150))) == ["VID_CORRUPT"]


def test_probe_that_cannot_load_mediainfo_is_our_fault_not_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(m, "_probe_server_argv", lambda: [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(ProbeUnavailable):
        video(tmp_path, media.mp4(150))


# -- many --------------------------------------------------------------------------------

def _section(tmp_path: Path) -> list[tuple[str, Path, str, str]]:
    items = []
    for n in range(1, 6):
        name = f"育婴师初级理论{n}.jpg"
        (tmp_path / name).write_bytes(media.jpeg(1024, 576) if n == 5 else media.jpeg())
        items.append(("photo", tmp_path / name, name, f"x/理论/{name}"))
    for n in range(1, 4):
        name = f"育婴师初级理论{n}.mp4"
        (tmp_path / name).write_bytes(media.mp4(100) if n == 3 else media.mp4(150))
        items.append(("video", tmp_path / name, name, f"x/理论/{name}"))
    return items


def test_measure_many_returns_every_file_keyed_by_package_path(tmp_path):
    items = _section(tmp_path)
    got = measure_many(items, RULES)
    assert list(got) == [item[3] for item in items]
    assert [got[i[3]].kind for i in items] == ["photo"] * 5 + ["video"] * 3
    assert codes(got["x/理论/育婴师初级理论5.jpg"]) == ["IMG_RESOLUTION"]
    assert codes(got["x/理论/育婴师初级理论3.mp4"]) == ["VID_DURATION"]
    assert sum(len(x.problems) for x in got.values()) == 2


def test_measure_many_runs_photos_and_videos_at_the_same_time(tmp_path, monkeypatch):
    started = {"photo": threading.Event(), "video": threading.Event()}
    overlapped: list[str] = []

    def fake(kind: str, other: str):
        def measure(path, display_name, package_path, rules, **kwargs):
            started[kind].set()
            if started[other].wait(10):  # only true if the other kind runs meanwhile
                overlapped.append(kind)
            return Measurement(kind, None, None, None, None, None)
        return measure

    monkeypatch.setattr(m, "measure_photo", fake("photo", "video"))
    monkeypatch.setattr(m, "measure_video", fake("video", "photo"))
    items = [("photo", tmp_path / "a.jpg", "a.jpg", "a.jpg"), ("video", tmp_path / "b.mp4", "b.mp4", "b.mp4")]
    got = m.measure_many(items, RULES, workers=1)
    assert sorted(overlapped) == ["photo", "video"]
    assert {k: v.kind for k, v in got.items()} == {"a.jpg": "photo", "b.mp4": "video"}


def test_measure_many_refuses_an_unknown_kind(tmp_path):
    with pytest.raises(ValueError):
        measure_many([("audio", tmp_path / "a", "a", "a")], RULES)


def test_one_probe_child_serves_many_videos_and_recovers_after_a_hang(tmp_path, monkeypatch):
    good = tmp_path / "good.mp4"
    good.write_bytes(media.mp4(150))
    with m.VideoProbe() as probe:
        first = m.measure_video(good, "good.mp4", "good.mp4", RULES, probe=probe)
        pid = probe._proc.pid
        second = m.measure_video(good, "good.mp4", "good.mp4", RULES, probe=probe)
        assert probe._proc.pid == pid  # the same child answered both
    assert codes(first) == codes(second) == [] and second.duration == first.duration
    assert not psutil.pid_exists(pid)  # closed and reaped

    # a child that hangs on its first request: killed at the time limit, the next file
    # gets a fresh, working child
    hang_once = tmp_path / "hang-once"
    real = m._probe_server_argv()
    code = (f"import os, sys, time\nif not os.path.exists({str(hang_once)!r}):\n"
            f"    open({str(hang_once)!r}, 'w').close(); sys.stdin.readline(); time.sleep(120)\n"
            f"exec(compile({real[2]!r}, 'probe', 'exec'))")
    monkeypatch.setattr(m, "_probe_server_argv", lambda: [sys.executable, "-c", code, real[3]])
    items = [("video", good, "a.mp4", "a.mp4")]
    m._IDLE_PROBES.close_all()  # children kept from earlier packages would not hang
    got = m.measure_many(items, FAST, workers=1)
    assert codes(got["a.mp4"]) == ["VID_CORRUPT"] and "超时" in got["a.mp4"].problems[0].message
    got = m.measure_many(items + [("video", good, "b.mp4", "b.mp4")], FAST, workers=1)
    assert codes(got["a.mp4"]) == codes(got["b.mp4"]) == []
    m._IDLE_PROBES.close_all()  # idle children are kept for the next package until then
    assert not [p for p in psutil.Process().children(recursive=True) if "MediaInfo" in " ".join(p.cmdline())]
