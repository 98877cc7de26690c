"""The house's rules: one installed namespace, and imports only run downwards."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["core", "segmentation", "classification", "pipeline", "audit", "api", "lab", "lunggate"]
"""Bottom to top: folder names; ``lunggate/`` (the command line) is the roof."""
IMPORT = re.compile(r"^\s*from lunggate(?:\.(\w+))?[.\w]* import (.*)$|^\s*import lunggate\.(\w+)")


def imports(folder: str) -> list[tuple[str, str, str]]:
    """(file, imported layer, imported names) of every lunggate import in ``folder``."""
    found = []
    for path in sorted((ROOT / folder).glob("*.py")):
        for line in path.read_text().splitlines():
            m = IMPORT.match(line)
            if m:
                layer = m.group(1) or m.group(3) or "lunggate"
                found.append(
                    (path.name, layer if layer in LAYERS else "lunggate", m.group(2) or "")
                )
    return found


@pytest.mark.parametrize("folder", LAYERS)
def test_no_import_runs_upwards_or_into_another_stages_privates(folder):
    for name, layer, names in imports(folder):
        assert LAYERS.index(layer) <= LAYERS.index(folder), f"{folder}/{name} imports {layer}"
        if layer != folder:
            private = [
                n
                for n in re.split(r"[,\s()]+", names)
                if n.startswith("_") and not n.endswith("__")
            ]
            assert not private, f"{folder}/{name} imports {layer}'s private {private}"


@pytest.mark.parametrize("name", LAYERS[:-1])
def test_stage_folders_install_under_lunggate_only(name, tmp_path):
    def run(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True)

    assert run(f"import {name}").returncode != 0  # nothing generic in site-packages
    assert run(f"import lunggate.{name}").returncode == 0
