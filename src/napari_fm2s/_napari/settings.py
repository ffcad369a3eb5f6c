"""The widget's remembered choices: a small JSON file in the user config directory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: Environment variable that moves the settings directory (tests, portable installs).
CONFIG_DIR_ENV = "NAPARI_FM2S_CONFIG_DIR"


def settings_path() -> Path:
    """``$NAPARI_FM2S_CONFIG_DIR/widget.json``, else in the platform's user config dir."""
    folder = os.environ.get(CONFIG_DIR_ENV)
    if not folder:
        from platformdirs import user_config_dir

        folder = user_config_dir("napari-fm2s", appauthor=False)
    return Path(folder) / "widget.json"


def load_settings() -> dict[str, Any]:
    """The saved settings, or ``{}`` when there are none or the file is unreadable."""
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_settings(values: dict[str, Any]) -> bool:
    """Write ``values`` atomically; False (and nothing raised) if that is not possible."""
    path = settings_path()
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(values, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        return False
    return True
