#!/usr/bin/env bash
# Build the wheel, install it into a fresh venv (with the napari extra) and show that
# napari's plugin engine (npe2) discovers it and can import every contribution.
#   scripts/check_wheel.sh            (PYTHON=... to pick the interpreter that builds)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS

"$PYTHON" -m build --wheel --outdir "$WORK/dist" . > "$WORK/build.log" 2>&1 \
  || { tail -20 "$WORK/build.log"; exit 1; }
WHEEL=$(ls "$WORK"/dist/*.whl)
echo "built $(basename "$WHEEL")"
"$PYTHON" - "$WHEEL" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert "napari_fm2s/napari.yaml" in names, "napari.yaml missing from the wheel"
eps = [n for n in names if n.endswith("entry_points.txt")]
text = zipfile.ZipFile(sys.argv[1]).read(eps[0]).decode()
assert "[napari.manifest]" in text, text
print("wheel holds napari_fm2s/napari.yaml and the napari.manifest entry point")
PY

"$PYTHON" -m venv "$WORK/venv"
PIP="$WORK/venv/bin/pip"
"$PIP" install -q --disable-pip-version-check "torch==2.13.0"   # pinned first: CPU build
"$PIP" install -q --disable-pip-version-check "$WHEEL[napari]"
cd "$WORK"  # away from the source tree: only the installed wheel can be found
"$WORK/venv/bin/npe2" list | grep -i -E "name|fm2s"
"$WORK/venv/bin/npe2" validate napari-fm2s --imports
"$WORK/venv/bin/python" - <<'PY'
from npe2 import PluginManager
import napari_fm2s
pm = PluginManager.instance()
pm.discover()
mf = pm.get_manifest("napari-fm2s")
print("installed from", napari_fm2s.__file__)
print("widgets:", [w.display_name for w in mf.contributions.widgets])
print("menus:", list(mf.contributions.menus))
print("sample data:", [s.key for s in mf.contributions.sample_data])
PY
echo "wheel check passed in $((SECONDS - start)) s"
