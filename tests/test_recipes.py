"""docs/EXTENDING.md followed literally: for each recipe, in a copy of the ``scatnet`` package, every file its
code blocks name (``# scatnet/...`` in the leading comment; ``(append)``: added to the end of that file) is written,
then its commands (``bash`` blocks) run, each for one epoch on digits. A recipe that drifts from the code
fails here."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # each recipe trains

DOC = REPO / "docs" / "EXTENDING.md"
# What a recipe's command leaves to the user, set here for a short run (a key the command sets stays its own)
SHORT = {"data": "digits", "trainer.max_epochs": "1", "model.width": "8", "progress_bar": "false"}


def sections() -> dict[str, list[tuple[str, str]]]:
    """{recipe heading: [(language, code), ...]} of every fenced block, indented ones (in lists) included."""
    out: dict[str, list[tuple[str, str]]] = {}
    heading, block, lang, indent = "", None, "", 0
    out[heading] = []  # what comes before the first recipe
    for line in DOC.read_text().splitlines():
        stripped = line.strip()
        if block is None and line.startswith("## "):
            heading = line[3:].strip()
            out[heading] = []
        elif stripped.startswith("```") and block is None:
            block, lang, indent = [], stripped[3:].strip(), len(line) - len(line.lstrip())
        elif stripped == "```" and block is not None:
            out[heading].append((lang, textwrap.dedent("\n".join(line[indent:] for line in block)) + "\n"))
            block = None
        elif block is not None:
            block.append(line)
    return out


RECIPES = [h for h, blocks in sections().items() if any(lang == "bash" for lang, _ in blocks)]


def short(command: str) -> list[str]:
    words = shlex.split(command)
    given = {w.split("=", 1)[0].lstrip("+~") for w in words[1:]}
    return [*words, *(f"{k}={v}" for k, v in SHORT.items() if k not in given)]


def write_my_data(root: Path) -> None:
    """The dataset recipe's on-disk format (my_data.npz), from scikit-learn's digits at 32 x 32 x 3."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.kron(d.images / 16.0 * 255, np.ones((4, 4))).astype(np.uint8)  # 8x8 -> 32x32
    x = np.repeat(x[:, None], 3, axis=1)
    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / "my_data.npz", x_train=x[:1400], y_train=d.target[:1400], x_test=x[1400:], y_test=d.target[1400:])


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_recipe_works_as_written(recipe, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(REPO / "scatnet", work / "scatnet", ignore=shutil.ignore_patterns("__pycache__"))
    written = []
    for lang, code in sections()[recipe]:
        lines = code.splitlines(keepends=True)
        head = [i for i, line in enumerate(lines) if not line.startswith("#")][:1] or [len(lines)]
        marks = [
            (i, re.fullmatch(r"# (\S+\.(?:py|yaml))( \(append\))?(\s+\(.*\))?", lines[i].strip()))
            for i in range(head[0])
        ]
        marks = [(i, m) for i, m in marks if m]
        if lang == "bash" or not marks:
            continue
        i, found = marks[0]
        path = work / found.group(1)
        assert found.group(2) or not path.exists(), f"{recipe}: {found.group(1)} exists already; say (append)"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(("\n\n" + "".join(lines[i + 1 :])) if found.group(2) else code)
        written.append((found.group(1), bool(found.group(2))))
    assert written, f"{recipe}: no file to write"
    write_my_data(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if k not in ("SCATNET_CONFIG_DIR", "WANDB_SERVICE")}
    env.update(
        PYTHONPATH=str(work),
        SCATNET_OUTPUTS=str(tmp_path / "outputs"),
        SCATNET_DATA=str(tmp_path / "data"),
        PYTHONWARNINGS="ignore",
        WANDB_DIR=str(tmp_path),
    )
    bin_dir = Path(sys.executable).parent
    for lang, code in sections()[recipe]:
        if lang != "bash":
            continue
        for command in (c for c in code.splitlines() if c.startswith("scatnet-")):
            argv = short(command) if command.startswith("scatnet-train") else shlex.split(command)
            proc = subprocess.run(
                [str(bin_dir / argv[0]), *argv[1:]], cwd=work, env=env, capture_output=True, text=True, timeout=600
            )
            assert proc.returncode == 0, f"{recipe}: {command}\n{(proc.stdout + proc.stderr)[-3000:]}"
    records = [json.loads(p.read_text()) for p in (tmp_path / "outputs").rglob("metrics.json")]
    assert records and all(r["status"] == "completed" for r in records), recipe
    used = json.dumps([r["config"] for r in records])
    for path, appended in written:  # every module a recipe wrote is what its runs were built from
        if path.endswith(".py") and not appended:
            assert path[:-3].replace("/", ".") in used, f"{recipe}: no run used {path}"
