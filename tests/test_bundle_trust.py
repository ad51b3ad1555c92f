"""Loading a bundle runs only code the user allows: the modules its manifest names are imported when they are
the user's own code (or listed in allow_modules / AUTOSEARCH_ALLOW_MODULES), refused in one line otherwise,
before anything is imported; Keras formats load in safe mode. The bundle is the 0.1.0 release fixture's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from autosearch.errors import BundleError
from autosearch.export.predictor import check_user_code
from autosearch.export.trust import ALLOW_ENV, is_users_own

FIXTURE = ROOT / "tests" / "fixtures" / "release-0.1.0" / "runs" / "20261203-151205-42b0" / "export"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A copy of a real bundle (its manifest names no module)."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "bundle"))


def name_imports(bundle: Path, modules: list[str]) -> None:
    """Tamper with the manifest: it now asks to import ``modules`` (the checksums cover the model files only)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["imports"] = modules
    (bundle / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def own_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of the user's own (on sys.path, outside the installed packages) that leaves a mark when imported."""
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / "my_trusted_space.py").write_text(f"open({str(folder / 'imported')!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    return "my_trusted_space"


@pytest.mark.parametrize("module", ["this", "json.tool", "autosearch.workflows.housekeeping", "autosearch.cli", "os"])
def test_a_manifest_naming_a_module_that_is_not_the_users_code_is_refused_before_it_is_imported(
        bundle: Path, module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    already = module in sys.modules
    with pytest.raises(BundleError) as refused:
        check_user_code(bundle, [module])
    message = str(refused.value)
    assert f"module '{module}'" in message and "allow_modules" in message and ALLOW_ENV in message
    assert (module in sys.modules) == already and "Beautiful is better" not in capsys.readouterr().out


@pytest.mark.parametrize("name", ["os; rm -rf", "__main__", "a..b", "pkg.__main__", ""])
def test_a_manifest_naming_something_that_is_not_a_module_name_is_refused(bundle: Path, name: str) -> None:
    with pytest.raises(BundleError, match="not a module name"):
        check_user_code(bundle, [name])


def test_the_users_own_module_is_allowed_by_default_and_an_explicit_list_replaces_the_default(
        bundle: Path, own_module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_users_own(own_module) and not is_users_own("numpy") and not is_users_own("json")
    check_user_code(bundle, [own_module])  # the default: the user's own code
    with pytest.raises(BundleError, match="not among the modules you allowed"):
        check_user_code(bundle, [own_module], allow=[])
    check_user_code(bundle, ["json.tool"], allow=["json"])  # a package allows its submodules
    monkeypatch.setenv(ALLOW_ENV, "numpy, json")
    check_user_code(bundle, ["numpy", "json.tool"])
    with pytest.raises(BundleError, match="you allowed \\(numpy, json\\)"):
        check_user_code(bundle, [own_module])


def test_load_imports_an_allowed_module_and_refuses_a_tampered_manifest_in_one_line(bundle: Path, tmp_path: Path,
                                                                                   own_module: str) -> None:
    import autosearch

    name_imports(bundle, [own_module])
    predictor = autosearch.load(bundle)
    assert (tmp_path / "user_code" / "imported").is_file() and predictor.format == "keras"
    name_imports(bundle, ["this"])
    res = subprocess.run([sys.executable, "-c", f"import autosearch; autosearch.load({str(bundle)!r})"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert "Beautiful is better" not in res.stdout and "BundleError" in res.stderr and "module 'this'" in res.stderr


def test_a_keras_model_with_a_lambda_is_refused_even_when_the_process_allowed_unsafe_loading(bundle: Path) -> None:
    """Keras' safe mode: a tampered ``model.keras`` whose ``Lambda`` would run code on load is refused."""
    import keras

    import autosearch
    from autosearch.export.format import file_digests

    inputs = keras.Input((30,))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    keras.Model(inputs, outputs).save(bundle / "model.keras")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"] = {rel: digest for rel, digest in file_digests(bundle).items() if rel in manifest["files"]}
    (bundle / "manifest.json").write_text(json.dumps(manifest))  # checksums forged too: they catch no tampering
    keras.config.enable_unsafe_deserialization()
    try:
        with pytest.raises(Exception, match="(?i)lambda"):
            autosearch.load(bundle)
    finally:
        from keras.src.saving import serialization_lib

        serialization_lib.global_state.set_global_attribute("safe_mode_saving", None)
