"""What one media file *is*: the :class:`Measurement` the media rules judge and the
manifest records, the file types first bytes show, and the Chinese details of damage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


#: the containers of the MP4 family as :attr:`Measurement.format` records them: MPEG-4
#: (every ISO base media file with a video brand: 3GP, M4V, a camera's XAVC...) and its
#: ancestor QuickTime
MP4_CONTAINERS = ("MPEG-4", "QuickTime")


@dataclass(frozen=True)
class Measurement:
    """What one media file is: the facts the media rules judge and the manifest records.

    Which facts a file has depends on how far it could be read; a fact that could not be
    measured is None (or False). No field holds a verdict: a too small, too long, too
    big or damaged file is only measured as such.
    """

    #: "photo", "video" or "screenshot" (an online-platform screenshot: read like a photo,
    #: but as JPEG or PNG)
    kind: str
    #: the file's size in bytes
    size_bytes: int
    #: the format, as the manifest records it. Photos: as Pillow read it ("JPEG", "PNG"; a
    #: phone's multi-picture "MPO" is "JPEG"), or when Pillow could not read it, as the
    #: first bytes show (:attr:`detected`). Videos: "MPEG-4" for an ISO base media file
    #: whatever its brand, "QuickTime" for a QuickTime movie (:attr:`quicktime`), both as
    #: the boxes show (:mod:`.mp4`); else the container as libmediainfo names it ("AVI",
    #: "Matroska"...), None when no container was recognised. None: unknown.
    format: str | None = None
    #: the size as displayed (EXIF orientation / rotation applied), when known. A picture
    #: never decoded for its size (:attr:`damage` names it) keeps the size its header claims.
    width: int | None = None
    height: int | None = None
    #: seconds (videos), from the container or else the first video track
    duration: float | None = None
    #: the first video track's codec as libmediainfo names it: "AVC", "HEVC", "MPEG-4 Visual"
    codec: str | None = None
    #: the file type the first bytes show (:func:`sniff_format`), to name what a file
    #: really is when it is not in a format it is read as; None: empty, or no known type
    detected: str | None = None
    #: the bytes are of a format the file is read as. Photos and screenshots: Pillow took
    #: them for one of the formats they are read as, or their first bytes are of one (the
    #: file may still be damaged). Videos: libmediainfo recognised a container, MP4 or not.
    format_recognised: bool = False
    #: why the file is not intact, in Chinese, as the problem's detail: "文件为空（0 字节）…",
    #: "文件头已损坏", a picture too large to decode, truncation, "缺少索引信息（moov）…",
    #: the probe's time-out or crash...; None: intact, as far as it could be read
    damage: str | None = None
    #: photos and screenshots: the picture data was decoded (whether or not completely), so
    #: :attr:`width` and :attr:`height` are those of a real picture. False when the file was
    #: not opened, its header is broken, or it claims more pixels than are ever decoded.
    decoded: bool = False
    #: videos: the container is QuickTime (format "QuickTime"): brand ``qt  `` without an
    #: ISO brand among the compatible ones, or no ``ftyp`` but QuickTime's atoms
    quicktime: bool = False
    #: videos: libmediainfo found a video track (the first one is the one measured)
    has_video_track: bool = False
    #: photos and screenshots: a valid JPEG of a kind that is never decoded, as its frame
    #: header (SOF marker and sample precision) declares it: one of :data:`JPEG_VARIANTS`,
    #: or "<n>-bit" for a sample precision other than 8. None: an ordinary (baseline or
    #: progressive, 8-bit, Huffman-coded) JPEG, or no JPEG at all.
    variant: str | None = None
    #: videos: bytes after the end of the MP4's last box that belong to no box and are
    #: data (not zero padding, not a phone's known trailer): a download, copy or tool
    #: appended them. 0: none, or not an MP4 (:mod:`.mp4`)
    trailing_bytes: int = 0
    #: photos: the 64-bit perceptual hash of the intact picture shown upright, from the
    #: 1/8-scale decode (:func:`~pipeline.check.measure.photos.perceptual_hash`); None for
    #: a damaged or never decoded photo, and for videos and screenshots
    perceptual_hash: int | None = None

    def manifest_fields(self) -> dict[str, Any]:
        """What the receipt's manifest records of the file (raw names, not the messages')."""
        return {"kind": self.kind, "format": self.format, "width": self.width,
                "height": self.height, "duration": self.duration, "codec": self.codec}


class ProbeUnavailable(RuntimeError):
    """The video probe itself cannot run (our fault, not the file's): retry the package."""


# -- format sniffing -------------------------------------------------------------------

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff_format(head: bytes) -> str | None:
    """A friendly name of the file type from its first bytes (>= 32), or None if unknown.

    Used to name what an institution actually uploaded ("HEIC" for an iPhone photo renamed
    .jpg); the checks themselves decide by decoding, not by this.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[4:8] == b"ftyp":
        major = head[8:12]
        brands = {major} | {head[i:i + 4] for i in range(16, min(len(head), 64) - 3, 4)}
        if major in _AVIF_BRANDS:
            return "AVIF"
        if major in _HEIC_BRANDS or (major in _HEIF_BRANDS and brands & _HEIC_BRANDS):
            return "HEIC"
        if major in _HEIF_BRANDS:
            return "HEIF"
        if major == b"qt  ":
            return "QuickTime"
        return "MPEG-4"
    if head[:2] == b"BM":
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head.startswith(b"%PDF"):
        return "PDF"
    if head.startswith(b"8BPS"):
        return "PSD"
    if head[:4] == b"\x00\x00\x01\x00":
        return "ICO"
    if head.startswith(b"PK\x03\x04"):
        return "ZIP"
    if head.startswith(b"Rar!"):
        return "RAR"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "Matroska"
    if head.startswith(b"FLV"):
        return "FLV"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "Office 文档"
    return None


# -- damage: the Chinese details of a file that is not intact ----------------------------
# (the judge quotes them as IMG_CORRUPT's / VID_CORRUPT's detail; the details of a failed
# decode, a picture too large to decode and a failed probe are made where they are found)

EMPTY_FILE = "文件为空（0 字节），可能是复制或上传中断"
BROKEN_HEADER = "文件头已损坏"
ZERO_FILLED_TAIL = "文件末尾缺失（只有空白数据），复制或上传不完整"
#: the picture data ends before the picture does (libjpeg: "Premature end of JPEG file")
TRUNCATED_PICTURE = "文件不完整（数据被截断），可能是复制或上传中断"
#: libjpeg decoded the picture but warned of corrupt entropy-coded data (extraneous bytes
#: before a marker, a premature end of a data segment, a bad Huffman code, a missing
#: restart marker, an inconsistent progression): a band of the picture is garbage, as
#: a rule (a few webcams and scanners write such data around an intact picture)
DAMAGED_PICTURE_DATA = "图像数据中间有错误，部分画面可能花屏、出现色块或错位"
#: libjpeg stopped decoding the picture data (an error, not a warning)
BROKEN_PICTURE_DATA = "图像数据已损坏，照片无法完整显示"

#: :attr:`Measurement.variant` values from the frame header's coding process (besides
#: "<n>-bit" for the sample precision): valid JPEGs that browsers, Windows and most phones
#: cannot open, and that the checks never decode
JPEG_VARIANTS = ("arithmetic", "lossless", "hierarchical", "JPEG-LS")
UNRECOGNISED_MP4 = "文件结构已损坏，无法识别"
TRUNCATED_VIDEO = "文件不完整（被截断），可能是复制或上传中断"
MISSING_MOOV = "缺少索引信息（moov），通常是录制被中断或导出未完成"
NO_PICTURE = "文件中没有视频画面（只有音频或其他数据）"
NO_SIZE_OR_LENGTH = "无法读取视频的分辨率或时长"
INCONSISTENT_INDEX = "索引信息与视频数据对不上（文件结构不一致），可能是转换或编辑软件出错"
NO_VIDEO_DATA = "视频轨道中没有画面数据，通常是录制被中断或导出未完成"


def _head(path: Path, n: int = 64) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)
