"""The ``fm2s`` command: ``fm2s denoise INPUT ... -o OUTPUT`` and ``fm2s presets``."""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Optional, Sequence, TextIO

from .api import DEFAULT_PRESET, denoise
from .batch import Outcome, Settings, connect, run_batch
from .batch_plan import Plan, make_plan, output_path
from .hooks import INTERNAL, DenoiseCancelled, user_message
from .calibrate import is_auto
from .eta import StepEta, format_eta
from .io import LAZY_BYTES
from .metadata import provenance
from .tiff_out import write_tiff_atomic
from .model_io import check_model_path, load_model
from .params import PARAMS, resolve_params
from .presets import PRESETS, get_preset
from .threads import choose_threads
from .training import MODES

#: The preset whose values ``--help`` shows as examples of the defaults.
_HELP_PRESET = "confocal"


class ProgressBar:
    """A one-line terminal progress bar fed by ``progress(step, total, loss)``; its ETA
    comes from measured step times (:class:`napari_fm2s.eta.StepEta`), per phase.

    On a terminal the line is redrawn (``\\r``) at most every 0.2 s; written to a file or
    pipe (``interactive`` False; ``None``: ``stream.isatty()``) it is one plain line every
    :data:`LOG_INTERVAL` seconds and at the end, so logs stay readable."""

    LOG_INTERVAL = 10.0
    #: Whether a terminal bar's line is drawn and not ended (a message then starts a line).
    line_open = False

    def __init__(self, label: str, stream: TextIO = sys.stderr, width: int = 30,
                 unit: str = "", skip: int = 3,
                 clock: Callable[[], float] = time.perf_counter,
                 interactive: Optional[bool] = None) -> None:
        self.label, self.stream, self.width, self.unit = label, stream, width, unit
        self.clock = clock
        self.eta = StepEta(skip=skip, clock=clock)
        self.last: Optional[float] = None
        if interactive is None:
            isatty = getattr(stream, "isatty", None)
            interactive = bool(isatty()) if callable(isatty) else False
        self.interactive = interactive

    def __call__(self, step: int, total: int, loss: Optional[float] = None) -> None:
        left = self.eta.update(step, total)
        now = self.clock()
        interval = 0.2 if self.interactive else self.LOG_INTERVAL
        if step < total and self.last is not None and now - self.last < interval:
            return
        self.last = now
        frac = step / max(total, 1)
        bar = "#" * int(frac * self.width)
        what = f" loss {loss:.2e}" if loss is not None else f" {self.unit}" if self.unit else ""
        when = f"in {format_eta(self.eta.elapsed())}" if step >= total else \
            f"ETA {format_eta(left)}"
        line = f"{self.label} [{bar:<{self.width}}] {frac:4.0%} {step}/{total}{what} {when} "
        if self.interactive:
            self.stream.write(f"\r{line}" + ("\n" if step >= total else ""))
            ProgressBar.line_open = step < total
        else:
            self.stream.write(line.rstrip() + "\n")
        self.stream.flush()


def _settings(args: argparse.Namespace) -> Settings:
    """The run's settings, checked once (a bad value or model file fails before any input
    is read; a ``--model`` file is loaded here, once)."""
    if args.threads is not None:
        choose_threads(args.threads)  # refuse --threads 0 before any input is read
    overrides = {row.name: getattr(args, row.name) for row in PARAMS
                 if row.name != "seed" and getattr(args, row.name) is not None}
    model = None
    if args.model is not None:
        given = [row.flag for row in PARAMS if getattr(args, row.name) is not None]
        given += ["--per-plane"] * args.per_plane + ["--save-model"] * (args.save_model
                                                                         is not None)
        given += ["--offset"] * (args.offset is not None)
        if given:
            raise ValueError(f"{', '.join(given)} cannot be used with --model: a saved model "
                             "is applied as it was trained")
        model = load_model(args.model)
    else:
        if args.save_model is not None:
            check_model_path(args.save_model)
        if not is_auto(args.preset):
            resolve_params(args.preset, seed=args.seed, **overrides)
    return Settings(preset=args.preset, mode=args.mode, axes=args.axes, offset=args.offset,
                    per_plane=args.per_plane, seed=args.seed, device=args.device,
                    overrides=overrides, model=model, save_model=args.save_model,
                    threads=args.threads, spread=args.spread,
                    lazy_bytes=_lazy_bytes(args.lazy_above))


def _lazy_bytes(gib: float) -> int:
    """``--lazy-above`` (GiB) in bytes; ValueError unless a positive number."""
    if not 0 < gib < 2**30:  # also NaN and inf
        raise ValueError(f"--lazy-above must be a positive size in GiB, got {gib}")
    return int(gib * 2**30)


def _sample_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from .samples import synthetic_cells

    out_path = output_path(Path("sample.tif"), Path(args.output), False)
    bar = None if args.quiet else ProgressBar("sample")
    made: dict = {}  # recorded in the output, as a file's run is
    result = denoise(synthetic_cells((256, 256))[0], settings.preset, mode=settings.mode,
                     seed=settings.seed, device=settings.device, progress=bar,
                     offset=settings.offset,
                     model=settings.model, save_model=settings.save_model,
                     threads=settings.threads, on_params=lambda p, mode: made.update(
                         provenance(p, mode, source="--sample", offset=settings.offset)),
                     **settings.overrides)
    write_tiff_atomic(out_path, result, "YX", description=made)
    return 0


class _Overall:
    """Per-file lines and an overall progress bar over the files of a batch."""

    def __init__(self, total: int, quiet: bool,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.total, self.quiet = total, quiet
        self.eta = StepEta(skip=0, alpha=0.3, clock=clock, outlier=math.inf)  # files not skipped
        self.eta.start(0, total)
        self.counts = {"done": 0, "skipped": 0, "failed": 0}

    def start(self, i: int, src: Path) -> Optional[tuple]:
        if self.quiet:
            return None
        label = f"[{i + 1}/{self.total}] {src.name}"
        return ProgressBar(label), ProgressBar(f"{label} writing", unit="parts", skip=1)

    def done(self, o: Outcome, finished: int, total: int) -> None:
        self.counts[o.status] += 1
        if o.status == "skipped":
            self.eta.pause()
        else:
            self.eta.update(finished - self.counts["skipped"], total)
        if o.status == "skipped" and o.note:  # said even when quiet: maybe not wanted
            print(f"fm2s: warning: {o.dst} exists, {o.note}: skipped (--overwrite to redo)",
                  file=sys.stderr)
        elif o.status == "failed":
            msg = _said(o.error)
            if total > 1 and "--axes" in msg:  # it would apply to every file of the run
                msg += " (--axes applies to every input: run this file on its own)"
            print(f"fm2s: error: {o.src}: {msg}", file=sys.stderr)
        elif not self.quiet:
            what = "exists, skipped (--overwrite to redo)" if o.status == "skipped" \
                else f"({o.seconds:.1f} s)"
            print(f"{o.src} -> {o.dst} {what}", file=sys.stderr)
        if not self.quiet and total > 1:
            per = self.eta.per_step  # skipped files take no time: not in the average
            eta = None if per is None else per * (total - finished)
            bar = "#" * (30 * finished // total)
            print(f"fm2s: all files [{bar:<30}] {finished}/{total} ETA {format_eta(eta)}",
                  file=sys.stderr)

    def summary(self) -> None:
        if not self.quiet and self.total > 1:
            c = self.counts
            print(f"fm2s: {c['done']} denoised, {c['skipped']} skipped, {c['failed']} failed",
                  file=sys.stderr)


def _denoise_cmd(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.sample:
        return _sample_cmd(args, settings)
    if not args.inputs:
        raise ValueError("give at least one INPUT file (or --sample)")
    plan: Plan = make_plan(args.inputs, args.output, args.overwrite)
    if settings.save_model is not None and plan.inputs > 1:
        raise ValueError("--save-model saves the model of one image: give one INPUT "
                         "(then apply it to the others with --model)")
    for src, e in plan.refused:
        print(f"fm2s: error: {src}: {user_message(e)}", file=sys.stderr)
    overall = _Overall(plan.total, args.quiet)
    client = connect(args.scheduler) if args.scheduler else None
    try:
        outcomes = run_batch(plan, settings, client=client, on_start=overall.start,
                             on_done=overall.done)
    finally:
        if client is not None:
            client.close()
    overall.summary()
    failures = len(plan.refused) + sum(o.status == "failed" for o in outcomes)
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
    d = sub.add_parser("denoise", help="denoise TIFF/PNG images, write float32 TIFF (RGB: "
                       "in the input's integer type)")
    d.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image files (TIFF, PNG, zarr / OME-Zarr), folders or globs")
    d.add_argument("-o", "--output", required=True,
                   help="output .tif / .zarr (one input) or folder (several inputs)")
    d.add_argument("--sample", action="store_true", help="denoise a built-in synthetic sample")
    d.add_argument("--preset", default=DEFAULT_PRESET,
                   help="'auto' (default): calibrated from each image's own noise, each "
                        "channel on its own (docs/auto.md); or a microscope preset "
                        "(fm2s presets), e.g. confocal")
    d.add_argument("--offset", default=None, type=float, metavar="FLOAT",
                   help="camera black level (offset) in the image's units, e.g. 100 for raw "
                        "sCMOS ADU: the synthetic Poisson noise acts above it (default: "
                        "none; auto estimates the offset and reports it, but leaves it in "
                        "the image)")
    d.add_argument("--mode", default=None, choices=MODES,
                   help=f"training schedule: fast (ours, seconds) or paper (the authors', "
                        f"minutes; default: {MODES[0]})")
    d.add_argument("--axes", default=None,
                   help="axes of the inputs, e.g. TYX, ZCYX, YXS (RGB); default: from the "
                        "file's metadata, else the last two axes are YX (see README)")
    d.add_argument("--per-plane", action="store_true",
                   help="train one model per plane instead of one per channel of a stack")
    d.add_argument("--overwrite", action="store_true",
                   help="redo outputs that already exist (default: skip them)")
    d.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask distributed scheduler (e.g. tcp://host:8786) to run on "
                        "(needs: pip install 'napari-fm2s[distributed]')")
    d.add_argument("--device", default=None, choices=["cpu", "cuda", "mps"],
                   help="where to train and run the network (default: a GPU if torch "
                        "has one, else the CPU)")
    d.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads (default: $FM2S_THREADS, else the cores this process "
                        "may use; 1 is fastest on a busy machine)")
    d.add_argument("--lazy-above", type=float, default=LAZY_BYTES / 2**30, metavar="GIB",
                   help="read TIFFs larger than this (GiB) page by page instead of whole "
                        "(zarr always is; default %(default)g): lower it to bound memory")
    d.add_argument("--save-model", default=None, metavar="PATH",
                   help="save the trained model (.fm2s.safetensors) to apply to other images")
    d.add_argument("--model", default=None, metavar="PATH",
                   help="apply a model saved with --save-model instead of training")
    d.add_argument("--spread", action="store_true",
                   help="also write the spread of the flip ensemble (per pixel, the std of "
                        "the network's 4 mirrored applications, input units; where it is "
                        "unsure, not a calibrated error) to OUT.spread.tif beside each output")
    d.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar and no info lines (axes, chosen parameters); "
                        "warnings and errors still show")
    _add_param_flags(d)
    d.set_defaults(func=_denoise_cmd)
    p = sub.add_parser("presets", help="print the preset table")
    p.set_defaults(func=_presets_cmd)
    return parser


def _add_param_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per row of the parameter table, with its bounds and an example default."""
    group = parser.add_argument_group(
        "training parameters", f"Each defaults to what auto calibrates (the default "
        f"preset) or to the preset's value (shown for --preset {_HELP_PRESET}); "
        f"'fm2s presets' lists every preset's.")
    example = get_preset(_HELP_PRESET)
    for row in PARAMS:
        group.add_argument(row.flag, dest=row.name, type=row.kind, default=None,
                           metavar=row.kind.__name__.upper(),
                           help=f"{row.help}; {row.bounds_text()} (--preset "
                                f"{_HELP_PRESET}: {getattr(example, row.name)})"
                           .replace("%", "%%"))


def _said(e: BaseException) -> str:
    """:func:`~napari_fm2s.hooks.user_message` of ``e``; with ``FM2S_DEBUG`` set, its
    traceback printed first (an internal error's place), else the way to get it."""
    msg = user_message(e)
    if os.environ.get("FM2S_DEBUG"):
        traceback.print_exception(e, file=sys.stderr)
    elif msg.endswith(INTERNAL):
        msg = msg[:-1] + "; FM2S_DEBUG=1 prints where it happened)"
    return msg


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    old = signal.signal(signal.SIGTERM, _sigterm)
    warn = _WarningLine()
    logger = logging.getLogger("napari_fm2s")
    logger.addHandler(warn)
    level = logger.level
    if not getattr(args, "quiet", True):  # the axes used, the calibrated values per channel
        warn.setLevel(logging.INFO)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        return args.func(args)
    except Exception as e:  # one line; a traceback only when asked for
        print(f"fm2s: error: {_said(e)}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, DenoiseCancelled):
        print("\nfm2s: interrupted; no partial output was left", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, old)
        logger.removeHandler(warn)
        logger.setLevel(level)


#: Info lines the CLI prints (the axes, auto's values, the guard, more training, outputs,
#: series, a lazy read).
_SAID = ("auto", "axes", "do-no-harm", "more training", "outputs", "pyramid", "read lazily",
         "series")


class _WarningLine(logging.Handler):
    """Core warnings (e.g. an out-of-memory fallback) as ``fm2s: warning: ...`` lines; the
    axes used and auto's calibrated values (info) as ``fm2s: ...`` lines."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            warn = record.levelno >= logging.WARNING
            if warn or record.getMessage().startswith(_SAID):
                lead = "\n" if ProgressBar.line_open else ""  # below a bar being drawn
                ProgressBar.line_open = False
                kind = "warning: " if warn else ""
                print(f"{lead}fm2s: {kind}{record.getMessage()}", file=sys.stderr)
        except Exception:  # never let a warning end the run
            pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
