"""The near-duplicate filter: perceptual hash, Hamming distance, window, keys."""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import simplejpeg
from skimage import data

from winnow.activelearning.dedup import NearDuplicateFilter, hamming, phash
from winnow.errors import InvalidImageError

WINDOW = 60.0
DISTANCE = 10


@pytest.fixture(scope="module")
def astronaut() -> npt.NDArray[Any]:
    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="module")
def coffee() -> npt.NDArray[Any]:
    return np.ascontiguousarray(data.coffee())


def _shifted(image: npt.NDArray[Any], dx: int, dy: int) -> npt.NDArray[Any]:
    matrix = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    h, w = image.shape[:2]
    return np.asarray(cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT))


def _noised(image: npt.NDArray[Any], sigma: float) -> npt.NDArray[Any]:
    rng = np.random.default_rng(7)
    noisy = image.astype(np.float32) + rng.normal(0, sigma, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _reencoded(image: npt.NDArray[Any], quality: int) -> npt.NDArray[Any]:
    jpeg = simplejpeg.encode_jpeg(image, quality=quality, colorspace="RGB")
    return np.asarray(simplejpeg.decode_jpeg(jpeg, colorspace="RGB"))


def test_hamming_counts_differing_bits() -> None:
    assert hamming(0, 0) == 0
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(0, (1 << 64) - 1) == 64


def test_phash_is_64_bits_and_ignores_dc(astronaut: npt.NDArray[Any]) -> None:
    value = phash(astronaut)
    assert 0 <= value < 1 << 64
    assert value & 1 == 0
    # Roughly half the 63 AC bits are above the median.
    assert 20 <= value.bit_count() <= 40


def test_phash_is_stable_under_brightness_and_scale(astronaut: npt.NDArray[Any]) -> None:
    brighter = np.clip(astronaut.astype(np.int16) + 20, 0, 255).astype(np.uint8)
    smaller = np.asarray(cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA), np.uint8)
    assert hamming(phash(astronaut), phash(brighter)) <= 4
    assert hamming(phash(astronaut), phash(smaller)) <= 4


def _reference_phash(image: npt.NDArray[Any]) -> int:
    """The textbook pHash: one INTER_AREA step to 32x32, no whole-factor pre-shrink."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = np.asarray(cv2.dct(small), np.float32)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    bits[0] = False
    return sum(1 << i for i in range(64) if bits[i])


def test_phash_of_large_frames_matches_the_textbook_hash(
    astronaut: npt.NDArray[Any], coffee: npt.NDArray[Any]
) -> None:
    for image in (astronaut, coffee):
        assert phash(image) == _reference_phash(image)
        for size in [(1920, 1080), (1280, 720), (4000, 3000), (600, 130)]:
            large = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_CUBIC), np.uint8)
            assert hamming(phash(large), _reference_phash(large)) <= 2


def test_phash_accepts_grayscale_and_refuses_bad_arrays(astronaut: npt.NDArray[Any]) -> None:
    gray = np.asarray(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY), np.uint8)
    assert phash(gray) == phash(astronaut)
    with pytest.raises(InvalidImageError, match="uint8"):
        phash(astronaut.astype(np.float32))
    with pytest.raises(InvalidImageError, match="shape"):
        phash(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(InvalidImageError, match="empty"):
        phash(np.zeros((0, 5, 3), np.uint8))


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda im: _shifted(im, 4, 3), id="shifted"),
        pytest.param(lambda im: _noised(im, 8.0), id="noised"),
        pytest.param(lambda im: _reencoded(im, 40), id="reencoded"),
    ],
)
def test_slightly_changed_image_is_a_duplicate(
    astronaut: npt.NDArray[Any], variant: object
) -> None:
    changed = variant(astronaut)  # type: ignore[operator]
    assert not np.array_equal(changed, astronaut)
    filt = NearDuplicateFilter()
    assert not filt.is_duplicate(
        "k", astronaut, max_distance=DISTANCE, window_seconds=WINDOW, now=0
    )
    assert filt.is_duplicate("k", changed, max_distance=DISTANCE, window_seconds=WINDOW, now=1)
    # A duplicate is not recorded.
    assert len(filt) == 1


def test_different_image_is_not_a_duplicate(
    astronaut: npt.NDArray[Any], coffee: npt.NDArray[Any]
) -> None:
    assert hamming(phash(astronaut), phash(coffee)) > 20
    filt = NearDuplicateFilter()
    assert not filt.is_duplicate(
        "k", astronaut, max_distance=DISTANCE, window_seconds=WINDOW, now=0
    )
    assert not filt.is_duplicate("k", coffee, max_distance=DISTANCE, window_seconds=WINDOW, now=1)
    assert len(filt) == 2
    # Both are now remembered.
    assert filt.is_duplicate("k", coffee, max_distance=DISTANCE, window_seconds=WINDOW, now=2)
    assert filt.is_duplicate("k", astronaut, max_distance=DISTANCE, window_seconds=WINDOW, now=2)


def test_max_distance_zero_needs_an_identical_hash(astronaut: npt.NDArray[Any]) -> None:
    noisy = _noised(astronaut, 25.0)
    distance = hamming(phash(astronaut), phash(noisy))
    assert distance > 0
    filt = NearDuplicateFilter()
    filt.is_duplicate("k", astronaut, max_distance=0, window_seconds=WINDOW, now=0)
    assert filt.is_duplicate("k", astronaut, max_distance=0, window_seconds=WINDOW, now=1)
    assert not filt.is_duplicate(
        "k", noisy, max_distance=distance - 1, window_seconds=WINDOW, now=1
    )


def test_window_expiry(astronaut: npt.NDArray[Any]) -> None:
    filt = NearDuplicateFilter()
    assert not filt.is_duplicate("k", astronaut, max_distance=DISTANCE, window_seconds=10, now=100)
    assert filt.is_duplicate("k", astronaut, max_distance=DISTANCE, window_seconds=10, now=110)
    # The duplicate at 110 did not refresh the record: at 110.5 the one from 100 has expired.
    assert not filt.is_duplicate(
        "k", astronaut, max_distance=DISTANCE, window_seconds=10, now=110.5
    )
    assert filt.is_duplicate("k", astronaut, max_distance=DISTANCE, window_seconds=10, now=115)
    assert len(filt) == 1


def test_keys_are_isolated(astronaut: npt.NDArray[Any]) -> None:
    filt = NearDuplicateFilter()
    args: dict[str, Any] = {"max_distance": DISTANCE, "window_seconds": WINDOW}
    assert not filt.is_duplicate("ws/proj/stream:cam1", astronaut, now=0, **args)
    assert not filt.is_duplicate("ws/proj/stream:cam2", astronaut, now=0, **args)
    assert not filt.is_duplicate("ws/other/stream:cam1", astronaut, now=0, **args)
    assert filt.is_duplicate("ws/proj/stream:cam1", astronaut, now=1, **args)
    filt.forget("ws/proj/stream:cam1")
    assert not filt.is_duplicate("ws/proj/stream:cam1", astronaut, now=2, **args)


def test_memory_is_bounded_per_key_and_in_keys() -> None:
    filt = NearDuplicateFilter(max_hashes_per_key=3, max_keys=2)
    args: dict[str, Any] = {"max_distance": 0, "window_seconds": WINDOW}
    for i in range(10):
        filt.check_hash("a", 1 << i, now=float(i), **args)
    assert len(filt) == 3
    # The oldest hashes were dropped: 1<<0 is new again, 1<<9 is remembered.
    assert filt.check_hash("a", 1 << 9, now=10, **args)
    assert not filt.check_hash("a", 1 << 0, now=10, **args)
    filt.check_hash("b", 5, now=10, **args)
    filt.check_hash("c", 6, now=10, **args)
    # "a" was the least recently used key and is gone.
    assert not filt.check_hash("a", 1 << 9, now=11, **args)


def test_expired_keys_are_swept() -> None:
    filt = NearDuplicateFilter()
    for i in range(1000):
        filt.check_hash(f"key{i}", i, max_distance=0, window_seconds=1, now=0)
    assert len(filt) == 1000
    for i in range(100):
        filt.check_hash("live", i << 8, max_distance=0, window_seconds=1, now=50)
    assert len(filt) <= 100


def test_arguments_are_validated(astronaut: npt.NDArray[Any]) -> None:
    filt = NearDuplicateFilter()
    with pytest.raises(ValueError, match="max_distance"):
        filt.is_duplicate("k", astronaut, max_distance=65, window_seconds=1, now=0)
    with pytest.raises(ValueError, match="window_seconds"):
        filt.is_duplicate("k", astronaut, max_distance=1, window_seconds=-1, now=0)


def test_concurrent_identical_images_record_exactly_one(astronaut: npt.NDArray[Any]) -> None:
    filt = NearDuplicateFilter()
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(20):
            dup = filt.is_duplicate("k", astronaut, max_distance=0, window_seconds=WINDOW, now=1)
            with lock:
                results.append(dup)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(False) == 1
    assert len(results) == 160
    assert len(filt) == 1
