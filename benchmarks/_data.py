"""Shared helpers of the benchmark scripts: the real data in ../shared/data and FMD scoring."""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
#: Earlier paper-mode runs: seed 3407 (fmd.py --json), other seeds, SRDTrans offset records.
PAPER_3407 = RESULTS / "paper_fmd.jsonl"
PAPER_SEEDS = RESULTS / "paper_seeds.jsonl"
PAPER_OFFSET = RESULTS / "paper_srdtrans_offset.jsonl"

#: Reference PSNR / SSIM of the authors' code (../shared/data/README.md).
REFERENCE = {
    "Confocal_BPAE_B_1": (37.311, 0.9686),
    "Confocal_FISH_1": (29.618, 0.7685),
    "TwoPhoton_MICE_1": (31.778, 0.8909),
    "TwoPhoton_BPAE_G_1": (32.658, 0.8207),
    "WideField_BPAE_B_1": (33.705, 0.8924),
}

_PRESET_OF = {"confocal": "confocal", "twophoton": "twophoton", "widefield": "widefield",
              "srdtrans": "srdtrans"}


@dataclass
class Item:
    name: str
    group: str  # microscope
    preset: str
    noisy: Path
    gt: Path

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        return _png(self.noisy), _png(self.gt)


def _png(p: Path) -> np.ndarray:
    with Image.open(p) as im:
        return np.asarray(im)


def find_images(data: Path = DEFAULT_DATA, pattern: str = "*") -> list[Item]:
    """FMD raw images and SRDTrans frames whose name matches ``pattern`` (fnmatch)."""
    items = []
    for p in sorted((data / "fmd" / "raw").glob("*.png")):
        group = p.stem.split("_")[0]
        items.append(Item(p.stem, group, _PRESET_OF[group.lower()], p, data / "fmd" / "gt" / p.name))
    for p in sorted((data / "srdtrans" / "noisy").glob("*.png"), key=lambda q: int(q.stem)):
        items.append(Item(f"srdtrans_{p.stem}", "SRDTrans", "srdtrans", p,
                          data / "srdtrans" / "gt" / p.name))
    pats = [s.strip() for s in pattern.split(",")]
    return [it for it in items if any(fnmatch.fnmatch(it.name, q) for q in pats)]


def _to8(out: np.ndarray) -> np.ndarray:
    """An output as the 8-bit image it would be saved as (rounded, clipped), in float64."""
    return np.clip(np.round(out), 0, 255).astype(np.float64)


def score(out: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """PSNR and SSIM, FMD convention: 8-bit intensities (rounded), data_range 255."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    out8, gt = _to8(out), gt.astype(np.float64)
    return (peak_signal_noise_ratio(gt, out8, data_range=255),
            structural_similarity(gt, out8, data_range=255))


def psnr(a: np.ndarray, truth: np.ndarray, data_range: float) -> float:
    """PSNR (dB) of ``a`` against ``truth`` for a given data range, in their own units."""
    return float(10 * np.log10(data_range ** 2
                               / np.mean((np.asarray(a, np.float64) - truth) ** 2)))


def offset_psnr(out: np.ndarray, gt: np.ndarray) -> float:
    """PSNR (8-bit, data_range 255) after removing the global mean difference to ``gt``.

    The SRDTrans ground truth sits about 8.5 grey levels below the noisy frames' mean
    (39.9 vs 47.5-49.6), so plain PSNR there mostly measures the output's overall
    brightness; this one measures the denoising.
    """
    from skimage.metrics import peak_signal_noise_ratio

    out8, gt = _to8(out), gt.astype(np.float64)
    return peak_signal_noise_ratio(gt, out8 + (gt.mean() - out8.mean()), data_range=255)


def append_json(path: str | os.PathLike | None, record: dict) -> None:
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")


def paper_runs(path: str | os.PathLike) -> list[dict]:
    """The paper-mode records of ``path`` run with the full schedule (no ``samples`` override)."""
    return [r for r in load_json(path) if r.get("mode") == "paper" and r.get("samples") is None]


def load_json(path: str | os.PathLike) -> list[dict]:
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def paper_seed_psnrs(paths: tuple[Path, ...] = (PAPER_3407, PAPER_SEEDS)
                     ) -> dict[str, list[float]]:
    """Plain PSNR of the earlier paper-mode runs in ``paths``, per image, in file order
    (by default seed 3407 first, then the other seeds)."""
    out: dict[str, list[float]] = {}
    for path in paths:
        for r in paper_runs(path):
            out.setdefault(r["image"], []).append(r["psnr"])
    return out


def paper_offsets() -> dict[str, list[float]]:
    """Offset-matched PSNR of every earlier paper-mode run that recorded it, per image."""
    out: dict[str, list[float]] = {}
    for path in (PAPER_3407, PAPER_SEEDS, PAPER_OFFSET):
        for r in paper_runs(path):
            if "psnr_offset" in r:
                out.setdefault(r["image"], []).append(r["psnr_offset"])
    return out
