"""The one parameter table: validation, the CLI and the napari function come from it."""

import dataclasses
import inspect

import pytest

from napari_fm2s.cli import build_parser
from napari_fm2s.params import PARAMS, TUNABLE, resolve_params
from napari_fm2s.presets import PRESETS, Preset


def test_every_row_is_a_preset_field_and_every_preset_is_valid():
    fields = {f.name for f in dataclasses.fields(Preset)}
    assert set(TUNABLE) <= fields
    for name in PRESETS:
        assert resolve_params(name) == PRESETS[name]


@pytest.mark.parametrize("row", PARAMS, ids=lambda r: r.name)
def test_bounds_are_enforced_with_the_name_in_the_message(row):
    assert getattr(resolve_params("confocal", **{row.name: row.hi}), row.name) == row.hi
    if not row.open_lo and not (row.odd and row.lo % 2 == 0):
        assert getattr(resolve_params("confocal", **{row.name: row.lo}), row.name) == row.lo
    too_high = row.hi * 2 + 1 if row.hi < 2**62 else 2**64
    for bad in (too_high, row.lo - 1, float("nan"), "3", True):
        with pytest.raises(ValueError, match=row.name):
            resolve_params("confocal", **{row.name: bad})
    if row.kind is int:
        with pytest.raises(ValueError, match="whole number"):
            resolve_params("confocal", **{row.name: row.lo + 1.5})


def test_cli_has_a_flag_with_help_for_every_row():
    parser = build_parser()
    denoise = next(a for a in parser._subparsers._group_actions[0].choices.values()
                   if a.prog.endswith("denoise"))
    flags = {opt: act for act in denoise._actions for opt in act.option_strings}
    for row in PARAMS:
        act = flags[row.flag]
        assert act.dest == row.name and act.type is row.kind
        assert row.help in act.help and "(--preset confocal: " in act.help
    args = parser.parse_args(["denoise", "x.tif", "-o", "y.tif", "--fast-steps", "5",
                              "--seed", "9"])
    assert args.fast_steps == 5 and args.seed == 9


def test_the_napari_function_has_a_parameter_for_every_row():
    functions = pytest.importorskip("napari_fm2s._napari.functions")
    sig = inspect.signature(functions.fm2s_denoise)
    for row in PARAMS:
        assert sig.parameters[row.name].default == functions.PRESET_VALUE
    assert "-1" in sig.parameters["k_g"].annotation.__metadata__[0]["tooltip"]
