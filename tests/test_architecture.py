"""The module graph: the core imports no UI toolkit, and no import circle anywhere."""

import sys

import grimp
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

from pathlib import Path

UI = {"napari", "qtpy", "superqt", "magicgui", "PyQt5", "PyQt6", "PySide2", "PySide6",
      "vispy", "platformdirs"}


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("napari_fm2s", include_external_packages=True)


def _ours(graph) -> list[str]:
    return sorted(m for m in graph.modules if m.startswith("napari_fm2s"))


def test_core_imports_no_napari_or_qt(graph):
    core = [m for m in _ours(graph) if not m.startswith("napari_fm2s._napari")]
    assert "napari_fm2s.pipeline" in core
    for m in core:
        bad = {i.split(".")[0] for i in graph.find_modules_directly_imported_by(m)} & UI
        assert not bad, f"{m} imports {bad}: UI code belongs in napari_fm2s._napari"


def test_import_linter_contract_lists_every_core_module(graph):
    """`lint-imports` (run by CI) checks the same rule; its list must stay complete."""
    conf = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    contract = conf["tool"]["importlinter"]["contracts"][0]
    core = {m for m in _ours(graph) if m.count(".") == 1 and not m.endswith("._napari")}
    assert core == set(contract["source_modules"])
    assert UI <= set(contract["forbidden_modules"])


def test_no_import_circle(graph):
    ours = [m for m in _ours(graph) if m != "napari_fm2s"]  # the package re-exports the API
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in ours}
             for m in ours}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in edges[m]:
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join(path + [m, n]))
            if n not in state:
                visit(n, path + [m])
        state[m] = 2

    for m in ours:
        if m not in state:
            visit(m, [])


def test_no_module_over_400_lines():
    src = Path(__file__).parents[1] / "src" / "napari_fm2s"
    long = {p.name: n for p in src.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long
