"""The ``fm2s`` command: ``fm2s denoise INPUT ... -o OUTPUT`` and ``fm2s presets``."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Optional, Sequence, TextIO

from .api import MODES, denoise
from .hooks import DenoiseCancelled
from .io import READ_SUFFIXES, read_image, write_tiff_atomic
from .presets import PRESETS

_OVERRIDES = [  # (flag, parameter, type, help)
    ("--k-g", "k_g", float, "Gaussian mapping factor"),
    ("--k-p", "k_p", float, "region-wise Poisson mapping factor"),
    ("--lam-p", "lam_p", float, "overall Poisson factor"),
    ("--stride", "stride", int, "region size of region-wise injection (pixels)"),
    ("--filter-size", "filter_size", int, "median filter window (odd)"),
    ("--channels", "channels", int, "channel amplification factor"),
    ("--samples", "samples", int, "noise-injected samples"),
    ("--steps-per-sample", "steps_per_sample", int, "optimizer steps per sample"),
    ("--lr", "lr", float, "learning rate"),
]


class ProgressBar:
    """A one-line terminal progress bar with ETA, fed by ``progress(step, total, loss)``."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream, width
        self.start = time.perf_counter()
        self.last = 0.0

    def __call__(self, step: int, total: int, loss: float) -> None:
        now = time.perf_counter()
        if step < total and now - self.last < 0.2:
            return
        self.last = now
        frac = step / max(total, 1)
        elapsed = now - self.start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        bar = "#" * int(frac * self.width)
        self.stream.write(f"\r{self.label} [{bar:<{self.width}}] {frac:4.0%} "
                          f"{step}/{total} loss {loss:.2e} ETA {_fmt(eta)} ")
        if step >= total:
            self.stream.write("\n")
        self.stream.flush()


def _fmt(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def _message(e: BaseException) -> str:
    """One line for the user; unexpected error types keep their class name."""
    text = " ".join(str(e).split()) or e.__class__.__name__
    if isinstance(e, ValueError):
        return text
    if isinstance(e, MemoryError):
        return "out of memory: try a smaller image or free some memory"
    return f"{e.__class__.__name__}: {text}"


def _output_path(inp: Path, output: Path, several: bool) -> Path:
    if several or output.is_dir() or str(output).endswith(("/", "\\")):
        return output / f"{inp.stem}_fm2s.tif"
    if output.suffix.lower() not in (".tif", ".tiff"):
        raise ValueError(f"output {output} must end in .tif or .tiff (results are float32 TIFF)")
    return output


def _expand(inputs: Sequence[str]) -> list[Path]:
    paths: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in READ_SUFFIXES)
            if not found:
                raise ValueError(f"folder {p} holds no {'/'.join(READ_SUFFIXES)} files")
            paths.extend(found)
        else:
            paths.append(p)
    return paths


def _denoise_cmd(args: argparse.Namespace) -> int:
    overrides = {param: getattr(args, param) for _, param, _, _ in _OVERRIDES}
    quiet = args.quiet
    if args.sample:
        from .samples import synthetic_cells

        jobs: list[tuple[str, object]] = [("sample", None)]
    else:
        if not args.inputs:
            raise ValueError("give at least one INPUT file (or --sample)")
        jobs = [(str(p), p) for p in _expand(args.inputs)]
    output = Path(args.output)
    several = len(jobs) > 1
    if several:
        output.mkdir(parents=True, exist_ok=True)
    failures = 0
    for label, path in jobs:
        try:
            if path is None:
                image = synthetic_cells((256, 256))[0]
                out_path = _output_path(Path("sample.tif"), output, several)
            else:
                out_path = _output_path(path, output, several)
                if out_path.resolve() == Path(path).resolve():
                    raise ValueError("output would overwrite the input; choose another -o")
                image = read_image(path)
            bar = None if quiet else ProgressBar(Path(label).name)
            t0 = time.perf_counter()
            result = denoise(image, args.preset, mode=args.mode, seed=args.seed,
                             device=args.device, progress=bar, **overrides)
            write_tiff_atomic(out_path, result)
            if not quiet:
                print(f"{label} -> {out_path} ({time.perf_counter() - t0:.1f} s)",
                      file=sys.stderr)
        except (ValueError, OSError, RuntimeError, MemoryError) as e:
            failures += 1
            print(f"fm2s: error: {label}: {_message(e)}", file=sys.stderr)
    return 1 if failures else 0


def _presets_cmd(args: argparse.Namespace) -> int:
    cols = ["name", "stride", "filter_size", "channels", "k_g", "k_p", "lam_p", "source"]
    rows = [[str(getattr(p, c)) for c in cols] for p in PRESETS.values()]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fm2s", description="FM2S zero-shot denoising "
                                     "for fluorescence microscopy images.")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("denoise", help="denoise TIFF/PNG images, write float32 TIFF")
    d.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders")
    d.add_argument("-o", "--output", required=True,
                   help="output .tif (one input) or folder (several inputs)")
    d.add_argument("--sample", action="store_true", help="denoise a built-in synthetic sample")
    d.add_argument("--preset", default="confocal", help="microscope preset (fm2s presets)")
    d.add_argument("--mode", default=MODES[0], choices=MODES)
    d.add_argument("--seed", type=int, default=None)
    d.add_argument("--device", default=None, choices=["cpu", "cuda", "mps"])
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    for flag, param, typ, help_ in _OVERRIDES:
        d.add_argument(flag, dest=param, type=typ, default=None, help=help_)
    d.set_defaults(func=_denoise_cmd)
    p = sub.add_parser("presets", help="print the preset table")
    p.set_defaults(func=_presets_cmd)
    return parser


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    old = signal.signal(signal.SIGTERM, _sigterm)
    try:
        return args.func(args)
    except Exception as e:  # one line, never a traceback
        print(f"fm2s: error: {_message(e)}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, DenoiseCancelled):
        print("\nfm2s: interrupted; no partial output was left", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, old)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
