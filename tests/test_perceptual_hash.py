"""The perceptual hash keeps imagehash's pHash bit for bit: hashes already in the
catalogue (W_MEDIA_REUSED, spec section 10) must keep matching new ones after the switch
from imagehash's scipy DCT to our two matrix products."""

from __future__ import annotations

import io
import random
from pathlib import Path

import imagehash
import pytest
import simplejpeg
from PIL import Image

from pipeline.check.measure.photos import measure_photo, perceptual_hash
from tests.support import media



def _imagehash_value(picture: Image.Image) -> int:
    bits = imagehash.phash(picture).hash.flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


@pytest.mark.parametrize("seed", range(12))
def test_generated_photos_hash_as_imagehash_does(seed: int) -> None:
    rng = random.Random(seed)
    # photos: pictures with texture (an evenly coloured or graded one has ties, below)
    data = media.jpeg(rng.randrange(64, 1200), rng.randrange(64, 900), quality=rng.randrange(50, 95), noise=True)
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    assert perceptual_hash(picture) == _imagehash_value(picture)


def test_the_measured_photo_carries_the_hash_of_its_draft(tmp_path: Path) -> None:
    path = tmp_path / "p.jpg"
    data = media.jpeg(1600, 1200, quality=85, noise=True)
    path.write_bytes(data)
    measured = measure_photo(path, 50_000_000)
    draft = simplejpeg.decode_jpeg(data, colorspace="RGB", min_height=1, min_width=1, min_factor=8)
    assert measured.perceptual_hash == _imagehash_value(Image.fromarray(draft, "RGB"))


def test_a_flat_picture_hashes_the_same_everywhere() -> None:
    # every coefficient but the constant one is 0: only its bit is set, not rounding noise
    flat = Image.new("RGB", (240, 135), (120, 130, 140))
    assert perceptual_hash(flat) == 1 << 63
    graded = Image.linear_gradient("L").convert("RGB")  # changes from top to bottom only
    assert perceptual_hash(graded) == perceptual_hash(graded.copy())
    assert perceptual_hash(graded) >> 56 == 0b1000_0000  # the first row: the constant term only
