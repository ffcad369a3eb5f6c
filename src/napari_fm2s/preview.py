"""Noise-injection preview on a crop: the real noisy image, its median target, a synthetic sample.

The user compares the real and the synthetic panel and moves ``k_g``, ``k_p``,
``lam_p`` until the two look alike.  Only a window around the crop is filtered,
aligned on the image's ``stride`` grid, so the crop sees exactly the target and
the region means that training computes on the whole image, at a cost that does
not grow with the image.  No Qt or napari here; the widget only displays it.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np
import torch

from .checks import check_image
from .calibrate import NoiseCurve, measure
from .intensity import IntensityMap, intensity_map
from .noise import inject, median_target, region_means
from .params import BY_NAME
from .presets import Preset
from .medians import square_median

#: Side of the preview crop in pixels.
PREVIEW_SIZE = 256
#: Synthetic/real noise ratios the authors' presets give on the FMD benchmark images,
#: where they denoise best (measured: 0.84 to 3.3; FM2S injects more noise than is real).
PRESET_RATIOS = (0.8, 3.5)
#: Median window of the noise estimate (same for real and synthetic panels).
_NOISE_WINDOW = 3


@dataclass(frozen=True)
class NoiseLevel:
    """Noise standard deviation (input units) in the dim and the bright half of a crop."""

    dim: float
    bright: float


@dataclass(frozen=True)
class PreviewPanels:
    """The three panels of one preview, float32 in the input's intensity units."""

    noisy: np.ndarray
    target: np.ndarray
    synthetic: np.ndarray
    box: tuple[slice, slice]  # where the crop lies in the image plane
    limits: tuple[float, float]  # one display range for all three panels
    noise_real: NoiseLevel
    noise_synthetic: NoiseLevel
    #: Residual variance against intensity and lag-1 correlation of the crop and of the
    #: sample, measured alike (:func:`napari_fm2s.calibrate.measure`, unit scale).
    curve_real: Optional[NoiseCurve] = None
    curve_synthetic: Optional[NoiseCurve] = None
    imap: Optional[IntensityMap] = None  # unit scale -> input units

    @property
    def noise_ratio(self) -> NoiseLevel:
        """Synthetic over real noise, dim and bright half (1 = the sliders match)."""
        def ratio(s: float, r: float) -> float:
            return s / r if r > 0 else float("nan")
        return NoiseLevel(ratio(self.noise_synthetic.dim, self.noise_real.dim),
                          ratio(self.noise_synthetic.bright, self.noise_real.bright))


#: The sliders that move the synthetic noise of the dim or bright areas up (True) or down,
#: each with the way it moves: (name, raise it?).
_LEVERS: dict[tuple[str, bool], tuple[tuple[str, bool], ...]] = {
    ("dim", True): (("k_g", True),), ("dim", False): (("k_g", False),),
    ("bright", True): (("lam_p", False), ("k_p", False)),
    ("bright", False): (("lam_p", True), ("k_p", True), ("k_g", False)),
}
_SHOWN = {"k_g": "k_g", "k_p": "k_p", "lam_p": "λp"}


def slider_hint(ratio: NoiseLevel, p: Optional[Preset] = None) -> str:
    """What to do about a synthetic/real noise ratio (dim and bright half): the sliders
    that move it the right way, only those not at their limit for ``p`` (helper 29:
    "raise λp" with λp already off, at its top)."""
    lo, hi = PRESET_RATIOS
    tips = []
    for value, area in ((ratio.dim, "dim"), (ratio.bright, "bright")):
        if lo <= value <= hi or not np.isfinite(value):
            continue
        up = value < lo
        moves = [f"{'raise' if rise else 'lower'} {_SHOWN[name]}"
                 for name, rise in _LEVERS[(area, up)]
                 if p is None or (getattr(p, name) < BY_NAME[name].hi if rise
                                  else getattr(p, name) > BY_NAME[name].lo)]
        what = "weaker than yours" if up else "far stronger than yours"
        tips.append(f"{what} in {area} areas: " + (" or ".join(moves) or
                                                  "no slider can move it further"))
    if not tips:
        return (f"Synthetic noise is within {lo:g}-{hi:g}x yours, the range of the "
                "presets: plausible sliders.")
    return "Synthetic noise is " + "; ".join(tips) + "."


def crop_box(shape: tuple[int, int], center: Optional[tuple[float, float]] = None,
             size: int = PREVIEW_SIZE) -> tuple[slice, slice]:
    """A ``size`` x ``size`` box inside an image of ``shape``, centred near ``center``.

    ``center`` is (row, column) in pixels, ``None`` for the image centre; the box
    is shifted to stay inside the image and shrinks to the image if it is smaller.
    """
    out = []
    for n, c in zip(shape, center if center is not None else (None, None)):
        side = min(size, n)
        mid = n / 2 if c is None or not np.isfinite(c) else float(c)
        start = int(np.clip(round(mid - side / 2), 0, n - side))
        out.append(slice(start, start + side))
    return out[0], out[1]


def noise_level(image: np.ndarray, reference: np.ndarray) -> NoiseLevel:
    """Std of ``image - median3(image)`` in pixels below / above the median of
    ``reference``.  Applied alike to the real and the synthetic panel, the two
    numbers are directly comparable (both read a little below the true noise std)."""
    img = np.asarray(image, dtype=np.float32)
    resid = img - square_median(img, _NOISE_WINDOW)
    bright = reference > np.median(reference)
    return NoiseLevel(_std(resid[~bright]), _std(resid[bright]))


def _std(r: np.ndarray) -> float:
    return float(r.std()) if r.size else float("nan")


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread inside the block, then restore the thread count.

    A 256x256 crop gains nothing from more threads, and on a busy CPU (training
    running) waiting for them costs ~100 ms.  With torch's OpenMP backend the
    count is per calling thread, so a training run elsewhere is not affected.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _aligned(start: int, stop: int, stride: int, n: int) -> tuple[int, int]:
    """``[start, stop)`` widened to whole regions of the image's ``stride`` grid."""
    return (start // stride) * stride, min(n, -(-stop // stride) * stride)


class NoisePreview:
    """Preview panels for one 2D image; keeps the target of the last window.

    Thread-safe: :meth:`render` may run in a worker thread.
    """

    def __init__(self, image: Any, size: int = PREVIEW_SIZE) -> None:
        self.plane = check_image(image)
        self.size = int(size)
        self.imap: IntensityMap = intensity_map(self.plane)
        self._lock = threading.Lock()
        self._key: Optional[tuple] = None
        self._base: Optional[tuple[np.ndarray, torch.Tensor, torch.Tensor]] = None
        self._curve: tuple[Optional[tuple], Optional[NoiseCurve]] = (None, None)

    def _target(self, box: tuple[slice, slice], p: Preset
                ) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """(noisy crop, target crop, region means of the crop) on the [0, 1] scale."""
        key = (box[0].start, box[0].stop, box[1].start, box[1].stop, p.filter_size, p.stride)
        if key == self._key and self._base is not None:
            return self._base
        h, w = self.plane.shape
        (y0, y1), (x0, x1) = (box[0].start, box[0].stop), (box[1].start, box[1].stop)
        ry0, ry1 = _aligned(y0, y1, p.stride, h)
        rx0, rx1 = _aligned(x0, x1, p.stride, w)
        r = p.filter_size // 2  # halo so the median inside the window is exact
        hy0, hy1, hx0, hx1 = max(0, ry0 - r), min(h, ry1 + r), max(0, rx0 - r), min(w, rx1 + r)
        target = median_target(self.imap.to_unit(self.plane[hy0:hy1, hx0:hx1]), p.filter_size)
        region = torch.from_numpy(
            np.ascontiguousarray(target[ry0 - hy0:ry1 - hy0, rx0 - hx0:rx1 - hx0]))[None, None]
        # the window starts on the grid and ends on it or at the image edge, so
        # region_means pads exactly as it does for the whole image
        means = region_means(region, p.stride)
        crop = (slice(y0 - ry0, y1 - ry0), slice(x0 - rx0, x1 - rx0))
        base = (self.imap.to_unit(self.plane[box]), region[(0, 0, *crop)].clone(),
                means[(0, 0, *crop)].clone())
        self._key, self._base = key, base
        return base

    def render(self, p: Preset, center: Optional[tuple[float, float]] = None,
               draw: int = 0) -> PreviewPanels:
        """Panels for the crop near ``center`` (row, column) with the noise of ``p``.

        ``draw`` numbers the synthetic sample: the same ``(p.seed, draw)`` gives the
        same random numbers, another ``draw`` a fresh sample ("Resample").
        """
        box = crop_box(self.plane.shape, center, self.size)
        with self._lock:
            raw, target, means = self._target(box, p)
            key = (box[0].start, box[0].stop, box[1].start, box[1].stop)
            if self._curve[0] != key:
                self._curve = (key, measure(raw))
            curve = self._curve[1]
        gen = torch.Generator().manual_seed((int(p.seed) * 1_000_003 + int(draw)) % 2**63)
        with one_torch_thread():
            sample = inject(target[None, None], p.k_g, p.k_p, p.lam_p, p.stride,
                            generator=gen, means=means[None, None],
                            corr=p.noise_corr, black=p.black)[0, 0].numpy()
        noisy, tgt = self.imap.from_unit(raw), self.imap.from_unit(target.numpy())
        synthetic = self.imap.from_unit(sample)
        lo, hi = np.percentile(noisy, (0.5, 99.8))
        if hi <= lo:  # a flat crop
            lo, hi = float(noisy.min()), float(noisy.min()) + 1.0
        assert curve is not None
        return PreviewPanels(noisy, tgt, synthetic, box, (float(lo), float(hi)),
                             noise_level(noisy, tgt), noise_level(synthetic, tgt),
                             curve, measure(sample, edges=curve.edges), self.imap)
