"""Near-duplicate filter: skip images that look like one collected a moment ago.

Consecutive video frames (and bursts of requests from one camera) are nearly
identical; without this filter a sampling strategy fills a batch with the
same scene. The collector asks :meth:`NearDuplicateFilter.is_duplicate`
*before* a credit is taken, keyed by (workspace, project, source), so a
duplicate costs no budget.

The hash is a 64-bit DCT perceptual hash (pHash): grayscale, resize to
32x32 with ``INTER_AREA`` (large images first by whole factors, for speed), 2-D DCT, keep the top-left 8x8 block of low
frequencies, and set one bit per coefficient greater than the median of the
63 AC coefficients. The DC term (overall brightness) is left out of the
median and its bit is always 0, so a global brightness change moves no bit.
Two images are near-duplicates when the Hamming distance of their hashes is
at most ``max_distance`` (0 = identical hash, 64 = anything).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from winnow.errors import InvalidImageError

HASH_BITS = 64
DEFAULT_MAX_HASHES_PER_KEY = 256
DEFAULT_MAX_KEYS = 10_000
_PRESHRINK = 128


def phash(image: NDArray[np.uint8]) -> int:
    """The 64-bit DCT perceptual hash of an RGB (HxWx3) or grayscale (HxW) uint8 image.

    Bit ``8*row + col`` is set when DCT coefficient ``(row, col)`` is above the
    median of the 63 AC coefficients; bit 0 (the DC term) is always 0.
    Raises ``InvalidImageError`` for anything that is not such an image.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise InvalidImageError("image must be a numpy uint8 array")
    if image.ndim in (2, 3) and (image.shape[0] < 1 or image.shape[1] < 1):
        raise InvalidImageError(f"image is empty: shape {image.shape}")
    if image.ndim == 3 and image.shape[2] == 3:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    elif image.ndim == 2:
        gray = image
    else:
        raise InvalidImageError(f"image must be HxWx3 (RGB) or HxW, got shape {image.shape}")
    small = cv2.resize(
        _shrink(np.asarray(gray, dtype=np.uint8)), (32, 32), interpolation=cv2.INTER_AREA
    ).astype(np.float32)
    low = np.asarray(cv2.dct(small)[:8, :8], dtype=np.float64).flatten()
    median = float(np.median(low[1:]))
    bits = low > median
    bits[0] = False
    # Pack row-major: coefficient k -> bit k.
    weights = np.left_shift(np.uint64(1), np.arange(HASH_BITS, dtype=np.uint64))
    return int(np.bitwise_or.reduce(weights[bits], initial=np.uint64(0)))


def _shrink(gray: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Area-average by whole factors down to at least ``_PRESHRINK`` pixels a side.

    OpenCV's ``INTER_AREA`` is several times faster for whole factors: a
    1080p frame costs ~2 ms instead of ~10 ms, and the hash changes by at
    most 2 bits on the skimage sample images (0 for most). Edge rows and
    columns that do not fill a block (fewer than the factor) are left out.
    """
    height, width = gray.shape[:2]
    fx, fy = max(width // _PRESHRINK, 1), max(height // _PRESHRINK, 1)
    if fx == 1 and fy == 1:
        return gray
    gray = gray[: height - height % fy, : width - width % fx]
    size = (gray.shape[1] // fx, gray.shape[0] // fy)
    return np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()


@dataclass(slots=True)
class _KeyHashes:
    """Recorded (time, hash) pairs of one key, oldest first."""

    entries: deque[tuple[float, int]] = field(default_factory=deque)
    window_seconds: float = 0.0


class NearDuplicateFilter:
    """Remembers recent image hashes per key and says whether a new image is a near-duplicate.

    Thread-safe. Memory is bounded: each key keeps at most
    ``max_hashes_per_key`` hashes (the oldest go first), hashes older than the
    window are dropped, and at most ``max_keys`` keys are remembered (the
    least recently used key goes first). In-memory and per process: each
    inference process filters its own traffic.
    """

    def __init__(
        self,
        *,
        max_hashes_per_key: int = DEFAULT_MAX_HASHES_PER_KEY,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if max_hashes_per_key < 1:
            raise ValueError("max_hashes_per_key must be >= 1")
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self._max_hashes = max_hashes_per_key
        self._max_keys = max_keys
        self._keys: OrderedDict[str, _KeyHashes] = OrderedDict()
        self._lock = threading.Lock()
        self._calls = 0

    def is_duplicate(
        self,
        key: str,
        image: NDArray[np.uint8],
        *,
        max_distance: int,
        window_seconds: float,
        now: float,
    ) -> bool:
        """True when ``image`` is within ``max_distance`` bits of a hash recorded for ``key``
        in the last ``window_seconds`` (then nothing is recorded); otherwise records its hash
        at ``now`` and returns False.

        ``now`` is a time in seconds on any monotonic-enough clock the caller
        uses consistently (``time.monotonic()`` or a test's fake clock).
        """
        if not 0 <= max_distance <= HASH_BITS:
            raise ValueError(f"max_distance must be within 0..{HASH_BITS}, got {max_distance}")
        if window_seconds < 0:
            raise ValueError(f"window_seconds must be >= 0, got {window_seconds}")
        value = phash(image)  # outside the lock: the only costly part
        return self.check_hash(
            key, value, max_distance=max_distance, window_seconds=window_seconds, now=now
        )

    def check_hash(
        self,
        key: str,
        value: int,
        *,
        max_distance: int,
        window_seconds: float,
        now: float,
        record: bool = True,
    ) -> bool:
        """Like :meth:`is_duplicate` for an already computed hash.

        With ``record=False`` a non-duplicate is not remembered: the caller
        records it with :meth:`remember` once the image was really collected
        (the collector does so only after a credit was taken, so a frame
        refused by a limit does not suppress its successors).
        """
        with self._lock:
            self._calls += 1
            if self._calls % 1024 == 0:
                self._sweep(now)
            slot = self._slot(key, window_seconds)
            entries = slot.entries
            oldest = now - window_seconds
            while entries and entries[0][0] < oldest:
                entries.popleft()
            for recorded_at, recorded in entries:
                if recorded_at <= now and hamming(recorded, value) <= max_distance:
                    return True
            if record:
                self._append(slot, now, value)
            return False

    def remember(self, key: str, value: int, *, window_seconds: float, now: float) -> None:
        """Record a hash for ``key`` at ``now`` (after a ``check_hash(..., record=False)``)."""
        with self._lock:
            slot = self._slot(key, window_seconds)
            self._append(slot, now, value)

    def _slot(self, key: str, window_seconds: float) -> _KeyHashes:
        """The hashes of ``key``, created (evicting the least recently used key) if new."""
        slot = self._keys.get(key)
        if slot is None:
            slot = _KeyHashes()
            self._keys[key] = slot
            while len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        slot.window_seconds = window_seconds
        return slot

    def _append(self, slot: _KeyHashes, now: float, value: int) -> None:
        slot.entries.append((now, value))
        while len(slot.entries) > self._max_hashes:
            slot.entries.popleft()

    def _sweep(self, now: float) -> None:
        """Forget keys whose every hash has expired (called under the lock)."""
        stale = [
            key
            for key, slot in self._keys.items()
            if not slot.entries or slot.entries[-1][0] < now - slot.window_seconds
        ]
        for key in stale:
            del self._keys[key]

    def forget(self, key: str | None = None) -> None:
        """Drop the hashes of one key, or of every key."""
        with self._lock:
            if key is None:
                self._keys.clear()
            else:
                self._keys.pop(key, None)

    def __len__(self) -> int:
        """Number of hashes currently remembered, over all keys."""
        with self._lock:
            return sum(len(slot.entries) for slot in self._keys.values())
