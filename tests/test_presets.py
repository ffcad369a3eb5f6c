import pytest

from napari_fm2s import PRESETS, get_preset


def test_every_level_of_every_microscope():
    for scope in ("confocal", "twophoton", "widefield"):
        assert scope in PRESETS
        for level in (2, 4, 8, 16):
            assert f"{scope}-avg{level}" in PRESETS
    assert "srdtrans" in PRESETS


def test_paper_values():
    c = get_preset("confocal")
    assert (c.stride, c.filter_size, c.channels, c.k_g, c.k_p, c.lam_p) == (75, 3, 2, 200, 30, 70)
    w = get_preset("widefield-avg4")
    assert (w.filter_size, w.channels, w.k_g, w.k_p, w.lam_p) == (11, 1, 60, 650, 3500)
    s = get_preset("srdtrans")
    assert (s.stride, s.filter_size, s.channels, s.k_g, s.k_p, s.lam_p) == (5, 3, 6, 60, 40, 125)
    assert get_preset("twophoton-avg16").lam_p == 3800
    assert all(p.source for p in PRESETS.values())
    assert all(p.samples == 450 and p.steps_per_sample == 5 and p.warmup_steps == 5
               for p in PRESETS.values())


def test_case_insensitive_and_alias():
    assert get_preset("ConFocal-AVG2") is PRESETS["confocal-avg2"]
    assert get_preset("confocal-avg1") is PRESETS["confocal"]


def test_unknown_lists_valid():
    with pytest.raises(ValueError,
                       match=r"valid presets: auto \(calibrated .*\), confocal, confocal-avg2"):
        get_preset("spinning-disk")
