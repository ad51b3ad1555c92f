"""The wheel ``pip install .`` builds holds what runs outside a clone: the shipped pipelines and the embedded
text corpora. Built offline from a copy of the sources (no build isolation, no index) and installed with
``--no-deps`` into a fresh venv that borrows this venv's site-packages for the dependencies: no download."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import PIPELINES, ROOT

import autosearch

CORPORA = ROOT / "autosearch" / "data" / "corpora"


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AUTOSEARCH_HOME")}
    out = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-2000:])
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, a venv where it is installed): built from a copy of the sources, so the build writes nothing
    into the repository."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT / "autosearch", src / "autosearch", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", tmp / "dist", src, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("autosearch-*.whl")
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    site = Path(_run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                     cwd=tmp).stdout.strip())
    # the dependencies from this venv's site-packages, as a plain path: its .pth files (this clone's editable
    # install among them) are not run, so `import autosearch` finds the wheel's copy only
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps", "--no-index",
         "-q", wheel, cwd=tmp)
    return wheel, venv


def test_the_wheel_holds_the_shipped_pipelines_and_the_text_corpora(installed: tuple[Path, Path]) -> None:
    names = set(zipfile.ZipFile(installed[0]).namelist())
    pipelines = {f"autosearch/pipelines/{p.name}" for p in PIPELINES.glob("*.toml")}
    corpora = {f"autosearch/data/corpora/{p.name}" for p in CORPORA.iterdir()}
    assert len(pipelines) == 8 and pipelines <= names
    assert len(corpora) == 4 and corpora <= names  # three corpora and their NOTICE.md


def test_the_installed_tool_lists_its_pipelines_and_reads_the_text_data_outside_the_clone(
        installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, venv = installed
    version = _run(venv / "bin" / "autosearch", "--version", cwd=tmp_path).stdout
    assert version.startswith(f"autosearch {autosearch.__version__} from {venv}") and str(ROOT) not in version
    assert installed[0].name.startswith(f"autosearch-{autosearch.__version__}-")
    listing = _run(venv / "bin" / "autosearch", "pipelines", cwd=tmp_path).stdout
    assert all(p.stem in listing for p in PIPELINES.glob("*.toml")) and f"Shipped in {venv}" in listing
    code = ("from autosearch.config import load_pipeline; from autosearch.data import prepare_data\n"
            "split = prepare_data(load_pipeline('text', {'data.max_rows': 300}))\n"
            "print(split.dataset.name, sum(split.summary()['rows'].values()))")
    assert _run(venv / "bin" / "python", "-c", code, cwd=tmp_path).stdout.split() == ["rotten_tomatoes", "300"]
