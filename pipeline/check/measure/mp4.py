"""The box structure of an MP4 file (ISO/IEC 14496-12, the ISO base media file format),
read in this process without decoding anything: what the file says it is and whether the
media data its index points at is really there.

libmediainfo (:mod:`.videos`) measures a video's picture and length; it names an MP4 by
its ``ftyp`` major brand only (a Sony ``XAVC`` or Canon ``CAEP`` clip comes back as format
"XAVC" or "CAEP") and finds truncation only by comparing box sizes with the file size (an
``mdat`` of size 0, "to the end of the file", hides a cut). This module answers both from
the structure itself:

- **the family**: an ``ftyp`` box anywhere at the top level (``free``/``skip``/``wide``
  may come first) makes an ISO base media file, whatever its brand, unless its brands say
  QuickTime only (major ``qt  ``, no ISO brand among the compatible ones) or a still
  picture (HEIF, AVIF, JPEG 2000, Canon raw). A media segment (``styp``, ``moof``,
  ``sidx``... first) is ISO too. No ``ftyp`` but QuickTime's top-level atoms (``moov``,
  ``mdat``, ``wide``...): a QuickTime movie.
- **completeness**: the top-level boxes are walked by their headers (the media data is
  never read); a box whose size runs past the end of the file is a cut, and so is a file
  that ends inside a box header before any index. The sample tables of every video and
  sound track (``stsz``/``stz2``, ``stsc``, ``stco``/``co64``) and, in a fragmented file,
  the track runs of every ``moof`` (``tfhd``/``trun``) give each chunk's bytes: every one
  must lie inside the file and inside an ``mdat``.
- **the end**: bytes after the last box that are not a box, or from an ``ftyp`` after
  the ``moov`` on (another file appended), are trailing data; zeros (padding) and a Samsung trailer
  (``...SEFT``) are not counted.

Reading is bounded: at most :data:`MAX_TOP_LEVEL_BOXES` box headers, a ``moov`` of at most
:data:`MAX_INDEX_BYTES`, sample tables of at most :data:`MAX_SAMPLES` entries, fragments'
``moof`` boxes up to :data:`MAX_INDEX_BYTES` in all. Beyond a bound the samples are not
checked (:attr:`Mp4Structure.samples_checked` is False) and libmediainfo's verdict stands:
a valid file is never failed for being unusual. Malformed boxes inside the index are
skipped the way players skip them; only positive evidence (a cut box, a chunk past the
end or outside the media data) counts as damage.
"""

from __future__ import annotations

import bisect
import struct
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from pipeline.check.files import FileRange

__all__ = ["Mp4Structure", "read_structure", "ISO", "QUICKTIME", "MAX_TOP_LEVEL_BOXES", "MAX_INDEX_BYTES",
           "MAX_SAMPLES", "PICTURE_BRANDS"]

#: :attr:`Mp4Structure.family` of a file with an ``ftyp`` box (ISO/IEC 14496-12)
ISO = "iso"
#: ... of a QuickTime movie: brand ``qt  `` only, or no ``ftyp`` but QuickTime's atoms
QUICKTIME = "quicktime"

#: top-level box headers walked at most (a fragmented 3-minute file has a few hundred)
MAX_TOP_LEVEL_BOXES = 100_000
#: bytes of index read at most: the ``moov`` box, and all ``moof`` boxes together
MAX_INDEX_BYTES = 16 * 1024 * 1024
#: entries of one sample table read at most (sizes, chunk offsets; 3 minutes at 240 fps
#: is 43,200 sizes; a constant sample size needs no table, whatever the count)
MAX_SAMPLES = 2_000_000

#: major brands of still pictures stored in ISO boxes: not a video, whatever libmediainfo makes of it
PICTURE_BRANDS = frozenset({"mif1", "mif2", "msf1", "heic", "heix", "heim", "heis", "hevc", "hevx", "hevm",
                             "hevs", "avif", "avis", "avio", "jp2 ", "jpx ", "jpm ", "crx "})
# compatible brands that make a "qt  " file readable as ISO base media
_ISO_BRANDS = frozenset({"isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso7", "iso8", "iso9", "mp41",
                         "mp42", "mp71", "avc1", "dash", "msdh", "msix", "M4V ", "M4A ", "f4v ", "cmfc", "cmf2"})
# top-level atoms of a QuickTime movie without ``ftyp``
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"PICT", b"junk"})
# top-level boxes that start a media segment (DASH, HLS, CMAF) without ``ftyp``
_SEGMENT_BOXES = frozenset({b"styp", b"sidx", b"moof", b"emsg", b"prft", b"ssix"})
# tracks whose samples are checked: pictures and sound (what a player plays)
_CHECKED_HANDLERS = frozenset({b"vide", b"soun"})
_SAMSUNG_TRAILER_END = b"SEFT"


@dataclass(frozen=True)
class Mp4Structure:
    """What the boxes of one file show. ``family`` None: not an MP4 or QuickTime file (or
    not one the structure shows): nothing else here applies."""

    family: str | None = None
    major_brand: str | None = None
    compatible_brands: tuple[str, ...] = ()
    #: a complete ``moov`` box (the index) is at the top level
    has_moov: bool = False
    #: the index announces fragments (``mvex``), or ``moof`` boxes are present
    fragmented: bool = False
    #: a top-level box (its type plausible) runs past the end of the file, or the file ends
    #: inside a box header and has no index: the file was cut
    cut: bool = False
    #: the last ``mdat`` runs past the end of the file but every sample lies inside it:
    #: a wrong size, not a cut (players read such files whole)
    overlong_mdat: bool = False
    #: the samples of every video and sound track were located (False: a table was beyond
    #: the reading bounds or could not be made sense of: no verdict on them)
    samples_checked: bool = False
    #: some sample's bytes lie (partly) beyond the end of the file
    samples_past_end: bool = False
    #: some sample's bytes lie inside the file but outside every ``mdat`` box: the index
    #: does not match the data (offsets not moved with the data, a bad edit)
    samples_outside_media_data: bool = False
    #: video tracks found in the index (``trak`` with handler ``vide``)
    video_tracks: int = 0
    #: samples of the video tracks found (in the sample tables and the fragments), when
    #: :attr:`samples_checked`
    video_samples: int = 0
    #: bytes after the last complete box where no box starts (the walk of the top level
    #: stopped there; 0 when the boxes reach the end, one is cut, or the walk gave up)
    tail_bytes: int = 0
    #: the part of :attr:`tail_bytes` that is data: not zeros (padding) and not a
    #: Samsung trailer (``...SEFT``, which Galaxy phones append)
    trailing_bytes: int = 0


@dataclass(frozen=True)
class _Box:
    type: bytes
    offset: int
    header: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def payload(self) -> int:
        return self.offset + self.header


@dataclass
class _Walk:
    """The top-level boxes, and how the walk ended."""

    boxes: list[_Box] = field(default_factory=list)
    stop: int = 0              # offset of the first byte not in a complete box
    cut: _Box | None = None    # a box of plausible type that runs past the end of the file
    gave_up: bool = False      # more boxes than the bound: the end is unknown
    partial_header: bool = False  # fewer than 8 bytes (not all zeros) after the last box


def read_structure(path: Path | FileRange) -> Mp4Structure:
    """The structure of the file at ``path`` (or of a range of a file: a stored video in
    its ZIP). An unreadable file raises OSError (ours); malformed content never raises:
    it is read as far as it makes sense."""
    with (path.open() if isinstance(path, FileRange) else open(path, "rb")) as f:
        size = f.seek(0, 2)
        walk = _walk_top_level(f, size)
        family, major, compatible = _family(f, walk)
        if family is None:
            return Mp4Structure(major_brand=major, compatible_brands=compatible)
        moov = next((b for b in walk.boxes if b.type == b"moov"), None)
        tracks, index_ok, mvex = _read_index(f, moov) if moov is not None else ([], False, False)
        moofs = [b for b in walk.boxes if b.type == b"moof"]
        located = _locate_samples(f, tracks, moofs) if index_ok and not walk.gave_up else None
        extents, video_samples = located if located is not None else ([], 0)
        past_end, outside = _check_chunks(extents, walk, size)
        # an mdat whose size runs past the end while every sample lies inside: its size is
        # wrong (some writers count a header twice), nothing is missing
        overlong = (walk.cut is not None and walk.cut.type == b"mdat" and located is not None
                    and bool(extents) and not past_end)
        # less than a box header left and no index: the file ends inside a header (cut);
        # after a complete index, those bytes are trailing data
        cut = (walk.cut is not None and not overlong) or (walk.partial_header and moov is None)
        tail = size - walk.stop if walk.cut is None and not cut and not walk.gave_up else 0
        return Mp4Structure(
            family=family, major_brand=major, compatible_brands=compatible, has_moov=moov is not None,
            fragmented=mvex or bool(moofs), cut=cut, overlong_mdat=overlong, samples_checked=located is not None,
            samples_past_end=past_end, samples_outside_media_data=outside,
            video_tracks=sum(t.handler == b"vide" for t in tracks), video_samples=video_samples,
            tail_bytes=tail, trailing_bytes=_trailing_bytes(f, walk.stop, size) if tail else 0)


# -- the top level ---------------------------------------------------------------------------

def _plausible_type(kind: bytes) -> bool:
    """Box types are four printable characters (QuickTime's user data adds ©)."""
    return all(0x20 <= c <= 0x7E or c == 0xA9 for c in kind)


def _walk_top_level(f: BinaryIO, size: int) -> _Walk:
    walk, pos, seen_moov = _Walk(), 0, False
    while pos < size:
        if len(walk.boxes) >= MAX_TOP_LEVEL_BOXES:
            walk.gave_up = True
            break
        f.seek(pos)
        head = f.read(8)  # not 16: the bytes after a header are a box's data, never read
        if len(head) < 8:
            walk.partial_header = head.count(0) != len(head)
            break
        if not _plausible_type(head[4:8]):
            break
        box_size, header = struct.unpack(">I", head[:4])[0], 8
        if box_size == 1:
            large = f.read(8)
            if len(large) < 8:
                break
            box_size, header = struct.unpack(">Q", large)[0], 16
        elif box_size == 0:  # "to the end of the file"
            box_size = size - pos
        if box_size < header:
            break
        box = _Box(head[4:8], pos, header, box_size)
        if box.type == b"ftyp" and seen_moov:
            # another file begins after this one's index (one appended to the first); a
            # repeated ftyp before any index is a streaming server's doubled header
            break
        seen_moov = seen_moov or box.type == b"moov"
        if box.end > size:
            walk.cut = box
            break
        walk.boxes.append(box)
        pos = box.end
    walk.stop = pos
    return walk


def _family(f: BinaryIO, walk: _Walk) -> tuple[str | None, str | None, tuple[str, ...]]:
    """ISO, QuickTime or neither, with the brands of ``ftyp`` (or of a segment's ``styp``),
    as text with their spaces."""
    boxes = walk.boxes + ([walk.cut] if walk.cut is not None else [])
    if not boxes:
        return None, None, ()
    ftyp = next((b for b in boxes if b.type == b"ftyp"), None) or next((b for b in boxes if b.type == b"styp"), None)
    if ftyp is None:
        if boxes[0].type in _SEGMENT_BOXES:  # a media segment cut out of a stream: ISO, no index
            return ISO, None, ()
        quicktime = boxes[0].type in _QUICKTIME_ATOMS and any(b.type in (b"moov", b"mdat") for b in boxes)
        return (QUICKTIME if quicktime else None), None, ()
    f.seek(ftyp.payload)
    payload = f.read(min(ftyp.size - ftyp.header, 1024))
    if len(payload) < 8:
        return None, None, ()  # no major brand: nothing to go by
    major = payload[:4].decode("latin-1")
    compatible = tuple(payload[i:i + 4].decode("latin-1") for i in range(8, len(payload) - 3, 4))
    if major in PICTURE_BRANDS:
        return None, major, compatible
    if major == "qt  " and not _ISO_BRANDS.intersection(compatible):
        return QUICKTIME, major, compatible
    return ISO, major, compatible


def _trailing_bytes(f: BinaryIO, start: int, size: int) -> int:
    """The bytes from ``start`` to the end, unless they are zeros (padding) or a Samsung
    trailer: then 0."""
    f.seek(size - 4)
    if f.read(4) == _SAMSUNG_TRAILER_END:
        return 0
    f.seek(start)
    while chunk := f.read(min(1 << 20, size - f.tell())):
        if chunk.count(0) != len(chunk):
            return size - start
    return 0


# -- the index (moov) -------------------------------------------------------------------------

@dataclass
class _Track:
    track_id: int = 0
    handler: bytes = b""
    sample_size: int = 0              # stsz: the size of every sample, or 0: see sizes
    sample_count: int = 0
    sizes: array | None = None        # per-sample sizes
    chunk_offsets: array | None = None
    stsc: list[tuple[int, int]] = field(default_factory=list)  # (first chunk, samples per chunk)
    default_size: int = 0             # trex: for fragments
    readable: bool = True


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, end) of the boxes in ``data[start:end]``; a malformed box ends
    the walk of its container (players skip it the same way)."""
    pos = start
    while pos + 8 <= end:
        box_size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if box_size == 1:
            if pos + 16 > end:
                return
            box_size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif box_size == 0:
            box_size = end - pos
        if box_size < header or pos + box_size > end:
            return
        yield kind, pos + header, pos + box_size
        pos += box_size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _children(data, start, end) if k == kind), None)


def _read_index(f: BinaryIO, moov: _Box) -> tuple[list[_Track], bool, bool]:
    """The tracks of the ``moov``, whether it was read, and whether it announces
    fragments (``mvex``)."""
    if moov.size > MAX_INDEX_BYTES:
        return [], False, False
    f.seek(moov.offset)
    data = f.read(moov.size)
    tracks: list[_Track] = []
    default_sizes: dict[int, int] = {}  # trex: a fragment's sample size unless it says
    mvex = False
    for kind, start, end in _children(data, moov.header, len(data)):
        if kind == b"trak":
            tracks.append(_read_track(data, start, end))
        elif kind == b"mvex":
            mvex = True
            for k, s, e in _children(data, start, end):
                if k == b"trex" and e - s >= 24:
                    track_id, _index, _duration, default_size = struct.unpack_from(">4I", data, s + 4)
                    default_sizes.setdefault(track_id, default_size)
    for track in tracks:
        track.default_size = default_sizes.get(track.track_id, 0)
    return tracks, True, mvex


def _read_track(data: bytes, start: int, end: int) -> _Track:
    track = _Track()
    tkhd = _child(data, start, end, b"tkhd")
    if tkhd is not None and tkhd[1] - tkhd[0] >= 24:
        version = data[tkhd[0]]
        track.track_id = struct.unpack_from(">I", data, tkhd[0] + (20 if version == 1 else 12))[0]
    mdia = _child(data, start, end, b"mdia")
    hdlr = _child(data, *mdia, b"hdlr") if mdia else None
    if hdlr is not None and hdlr[1] - hdlr[0] >= 12:
        track.handler = data[hdlr[0] + 8:hdlr[0] + 12]
    minf = _child(data, *mdia, b"minf") if mdia else None
    stbl = _child(data, *minf, b"stbl") if minf else None
    if stbl is None:
        track.readable = False
        return track
    try:
        _read_sample_table(data, *stbl, track)
    except (struct.error, ValueError, IndexError, OverflowError):
        track.readable = False
    return track


def _read_sample_table(data: bytes, start: int, end: int, track: _Track) -> None:
    """Fill ``track`` from its ``stbl``; a table missing or beyond the bounds leaves it
    unreadable (not checked)."""
    tables = {k: (s, e) for k, s, e in _children(data, start, end)}
    if b"stsz" in tables:
        s, _e = tables[b"stsz"]
        track.sample_size, track.sample_count = struct.unpack_from(">II", data, s + 4)
        if track.sample_size == 0:
            track.sizes = _uint_array(data, s + 12, track.sample_count, 4)
    elif b"stz2" in tables:
        s, _e = tables[b"stz2"]
        field_size, track.sample_count = data[s + 7], struct.unpack_from(">I", data, s + 8)[0]
        track.sizes = _compact_sizes(data, s + 12, track.sample_count, field_size)
    if b"stco" in tables or b"co64" in tables:
        wide = b"stco" not in tables
        s, _e = tables[b"co64" if wide else b"stco"]
        track.chunk_offsets = _uint_array(data, s + 8, struct.unpack_from(">I", data, s + 4)[0], 8 if wide else 4)
    if b"stsc" in tables:
        s, _e = tables[b"stsc"]
        count = min(struct.unpack_from(">I", data, s + 4)[0], MAX_SAMPLES)
        entries = _uint_array(data, s + 8, count * 3, 4)
        track.stsc = [(entries[i], entries[i + 1]) for i in range(0, len(entries), 3)]
    # (a constant sample size needs no table: the count may be large, 48 kHz PCM counts
    # every frame; the tables read are bounded by _uint_array)
    track.readable = (track.chunk_offsets is not None
                      and (track.sample_size != 0 or track.sizes is not None or track.sample_count == 0))


def _uint_array(data: bytes, start: int, count: int, width: int) -> array:
    """``count`` big-endian unsigned ints of ``width`` bytes; ValueError past the data or the bound."""
    if count > MAX_SAMPLES * 3 or start + count * width > len(data):
        raise ValueError("table beyond its box or the bound")
    values = array({8: "Q", 4: "I", 2: "H"}[width])
    values.frombytes(data[start:start + count * width])
    if struct.pack("=H", 1) != struct.pack(">H", 1):
        values.byteswap()
    return values


def _compact_sizes(data: bytes, start: int, count: int, field_size: int) -> array:
    if field_size == 16:
        return array("I", _uint_array(data, start, count, 2))
    if field_size == 8:
        if start + count > len(data):
            raise ValueError("table beyond its box")
        return array("I", data[start:start + count])
    if field_size == 4:
        packed = data[start:start + (count + 1) // 2]
        if len(packed) < (count + 1) // 2:
            raise ValueError("table beyond its box")
        return array("I", ((packed[i // 2] >> (4 if i % 2 == 0 else 0)) & 0xF for i in range(count)))
    raise ValueError("stz2 field size")


# -- where the samples are ---------------------------------------------------------------------

def _locate_samples(f: BinaryIO, tracks: list[_Track],
                    moofs: list[_Box]) -> tuple[list[tuple[int, int]], int] | None:
    """(start, end) of every chunk of every video and sound track, from the ``moov``'s
    sample tables and the fragments' track runs, and the number of video samples. None:
    some could not be located (no verdict)."""
    checked = [t for t in tracks if t.handler in _CHECKED_HANDLERS]
    extents: list[tuple[int, int]] = []
    video_samples = 0
    for track in checked:
        if not track.readable:
            return None  # a table we could not read: no verdict
        extents.extend(_chunk_extents(track))
        video_samples += track.sample_count if track.handler == b"vide" else 0
    defaults = {t.track_id: t.default_size for t in tracks}
    handlers = {t.track_id: t.handler for t in checked}
    budget = MAX_INDEX_BYTES
    for moof in moofs:
        budget -= moof.size
        if budget < 0:
            return None
        runs = _fragment_runs(f, moof, defaults)
        if runs is None:
            return None
        for track_id, count, extent in runs:
            if track_id in handlers:
                extents.append(extent)
                video_samples += count if handlers[track_id] == b"vide" else 0
    return extents, video_samples


def _chunk_extents(track: _Track) -> Iterator[tuple[int, int]]:
    """(offset, end) of each chunk of a track from its sample tables; a table that
    describes fewer samples than the chunks hold (or more) is read as far as it goes."""
    offsets = track.chunk_offsets or array("I")
    runs = [(first, per_chunk) for first, per_chunk in track.stsc if first >= 1]
    sample, remaining = 0, track.sample_count
    for i, (first, per_chunk) in enumerate(runs):
        last = runs[i + 1][0] - 1 if i + 1 < len(runs) else len(offsets)
        for chunk in range(first - 1, min(last, len(offsets))):
            n = min(per_chunk, remaining)
            if n <= 0:
                return
            if track.sizes is not None:
                length = sum(track.sizes[sample:sample + n])
            elif track.handler == b"soun" and track.sample_size == 1:
                # QuickTime's sound convention: a "sample" is one audio frame of a size the
                # sample description gives, not one byte; only the chunk's start is known
                length = 1
            else:
                length = n * track.sample_size
            yield offsets[chunk], offsets[chunk] + length
            sample += n
            remaining -= n


def _fragment_runs(f: BinaryIO, moof: _Box,
                   default_sizes: dict[int, int]) -> list[tuple[int, int, tuple[int, int]]] | None:
    """(track ID, samples, (start, end)) of the data of each track run in one ``moof``;
    None: not made sense of."""
    f.seek(moof.offset)
    data = f.read(moof.size)
    runs: list[tuple[int, int, tuple[int, int]]] = []
    next_base = moof.offset  # the first track fragment's data is based at the moof
    try:
        for kind, start, end in _children(data, moof.header, len(data)):
            if kind != b"traf":
                continue
            track_runs = _track_fragment_runs(data, start, end, moof.offset, next_base, default_sizes)
            if track_runs:  # the next track fragment's data follows this one's
                next_base = track_runs[-1][2][1]
            runs.extend(track_runs)
    except (struct.error, ValueError, IndexError, OverflowError):
        return None
    return runs


def _track_fragment_runs(data: bytes, start: int, end: int, moof_offset: int, implicit_base: int,
                         default_sizes: dict[int, int]) -> list[tuple[int, int, tuple[int, int]]]:
    """The runs of one ``traf``: its ``tfhd`` gives the base offset and default sample
    size, each ``trun`` its samples (ISO/IEC 14496-12, 8.8.7 and 8.8.8)."""
    tfhd = _child(data, start, end, b"tfhd")
    if tfhd is None:
        raise ValueError("traf without tfhd")
    flags, track_id = struct.unpack_from(">II", data, tfhd[0])
    pos, base = tfhd[0] + 8, implicit_base
    if flags & 0x1:  # base-data-offset-present
        base = struct.unpack_from(">Q", data, pos)[0]
        pos += 8
    elif flags & 0x20000:  # default-base-is-moof
        base = moof_offset
    pos += (4 if flags & 0x2 else 0) + (4 if flags & 0x8 else 0)
    default_size = struct.unpack_from(">I", data, pos)[0] if flags & 0x10 else default_sizes.get(track_id, 0)
    runs: list[tuple[int, int, tuple[int, int]]] = []
    cursor = base
    for kind, s, _e in _children(data, start, end):
        if kind != b"trun":
            continue
        trun_flags, count = struct.unpack_from(">II", data, s)
        p = s + 8
        if trun_flags & 0x1:  # data-offset-present: relative to the base
            cursor = base + struct.unpack_from(">i", data, p)[0]
            p += 4
        p += 4 if trun_flags & 0x4 else 0
        fields = bin(trun_flags & 0xF00).count("1")  # duration, size, flags, composition offset
        if count > MAX_SAMPLES or p + count * fields * 4 > len(data):
            raise ValueError("run beyond its box or the bound")
        if trun_flags & 0x200:  # sample-size-present
            values = struct.unpack_from(f">{count * fields}I", data, p)
            length = sum(values[(1 if trun_flags & 0x100 else 0)::fields])
        else:
            length = count * default_size
        runs.append((track_id, count, (cursor, cursor + length)))
        cursor += length
    return runs


def _check_chunks(extents: list[tuple[int, int]], walk: _Walk, size: int) -> tuple[bool, bool]:
    """(some chunk runs past the end of the file, some chunk lies outside every ``mdat``).
    A cut ``mdat`` counts to its declared end: what lies past the file's end is missing."""
    media = sorted((b.payload, b.end) for b in walk.boxes if b.type == b"mdat")
    if walk.cut is not None and walk.cut.type == b"mdat":
        media.append((walk.cut.payload, walk.cut.end))
        media.sort()
    starts = [s for s, _e in media]
    past_end = outside = False
    for start, end in extents:
        if end <= start:
            continue
        if end > size:
            past_end = True
            continue
        i = bisect.bisect_right(starts, start) - 1
        if i < 0 or end > media[i][1]:
            outside = True
    return past_end, outside
