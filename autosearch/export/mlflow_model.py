"""A bundle in MLflow's Model Registry: logged as a pyfunc model that wraps its raw-input SavedModel, registered
as a new version, and the alias ``best`` moved to it only when it beats the version ``best`` points to on the
same data fingerprint.

The pyfunc is ``mlflow_pyfunc.py`` (a model from code: TensorFlow serves it, autosearch is not needed to load
it); the model logs its own requirements (MLflow, TensorFlow, pandas, NumPy at the versions that wrote it).
``mlflow.pyfunc.load_model("models:/NAME@best")`` then predicts on a pandas DataFrame of raw inputs.
Each version carries the run's id, data fingerprint, metric and validation/test scores as tags.
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from autosearch.errors import ExportError

ALIAS = "best"
CODE = Path(__file__).with_name("mlflow_pyfunc.py")


@dataclass(frozen=True)
class Registered:
    """What ``register_bundle`` did: the version, and where the alias stands and why."""

    name: str
    version: str
    alias_moved: bool
    reason: str

    def lines(self) -> list[str]:
        where = f"models:/{self.name}/{self.version}"
        best = (f"alias '{ALIAS}' -> version {self.version}" if self.alias_moved
                else f"alias '{ALIAS}' unchanged")
        return [f"registered {where} in MLflow; {best} ({self.reason}); load it with "
                f"mlflow.pyfunc.load_model('models:/{self.name}@{ALIAS}')"]


def requirements() -> list[str]:
    """What loading the model needs, pinned to what wrote it: TensorFlow serves it, MLflow and pandas carry it."""
    out = []
    for names in (("mlflow",), ("tensorflow", "tensorflow-cpu"), ("pandas",), ("numpy",)):
        for name in names:
            try:
                out.append(f"{name}=={metadata.version(name)}")
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def raw_serving(bundle: Path) -> Mapping[str, Any]:
    """The manifest of a bundle whose SavedModel serves raw inputs; ``ExportError`` naming why not otherwise."""
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    serving = manifest.get("serving") or {}
    if not (bundle / "saved_model").is_dir() or not serving.get("raw"):
        why = serving.get("reason") or "it has no SavedModel with a raw-input signature (an --h5 or older bundle)"
        raise ExportError(f"bundle {bundle} cannot be registered in MLflow: {why}; export it again with the "
                          "current autosearch (autosearch export RUN).")
    return manifest


def _signature(manifest: Mapping[str, Any]) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    raw, text = manifest["serving"]["raw"], manifest.get("input", {}).get("text_column", "text")
    columns = [spec.get("column") or (text if key == "text" else key) for key, spec in raw["inputs"].items()]
    inputs = Schema([ColSpec("binary" if c == "image_bytes" else "string", str(c)) for c in columns])
    if manifest.get("problem") == "regression":
        outputs = Schema([ColSpec("double", "value")])
    else:
        outputs = Schema([ColSpec("string", "class"),
                          *(ColSpec("double", f"probability:{n}") for n in manifest.get("class_names") or [])])
    return ModelSignature(inputs=inputs, outputs=outputs)


def _better(new: float, old: float, metric: str) -> bool:
    """A higher accuracy, or a lower error, as ``baselines_that_won`` reads scores."""
    return new > old if metric == "accuracy" else new < old


def _alias_decision(client: Any, name: str, tags: Mapping[str, str]) -> tuple[bool, str]:
    """(move ``best``?, why) comparing the new version's validation score with the one ``best`` points to."""
    try:
        current = client.get_model_version_by_alias(name, ALIAS)
    except Exception:  # noqa: BLE001 - MLflow raises RESOURCE_DOES_NOT_EXIST when the alias is not set yet
        return True, "the first version with it"
    old, metric = current.tags, tags["autosearch.metric"]
    if old.get("autosearch.fingerprint") != tags["autosearch.fingerprint"]:
        return False, (f"version {current.version} was trained on other data (fingerprint "
                       f"{old.get('autosearch.fingerprint', '?')[:12]}); set it yourself if this one should serve")
    if old.get("autosearch.metric") != metric:
        return False, f"version {current.version} is scored by {old.get('autosearch.metric')}, this one by {metric}"
    new_score, old_score = float(tags["autosearch.validation"]), float(old.get("autosearch.validation", "nan"))
    if math.isnan(old_score) or _better(new_score, old_score, metric):
        return True, f"validation {metric} {new_score:.4g} beats version {current.version}'s {old_score:.4g}"
    return False, f"validation {metric} {new_score:.4g} does not beat version {current.version}'s {old_score:.4g}"


def register_bundle(bundle: Path, name: str, tracking_uri: str, mlflow_run_id: str, *, run_id: str,
                    fingerprint: str, scores: Mapping[str, Any]) -> Registered:
    """Log ``bundle`` as a pyfunc model under the MLflow run ``mlflow_run_id``, register a version of ``name``
    and move the alias ``best`` when it beats the current one on the same data fingerprint."""
    with warnings.catch_warnings():  # MLflow's advice on input examples and type hints: the signature is given
        warnings.simplefilter("ignore", UserWarning)
        return _register(bundle, name, tracking_uri, mlflow_run_id, run_id=run_id, fingerprint=fingerprint,
                         scores=scores)


def _register(bundle: Path, name: str, tracking_uri: str, mlflow_run_id: str, *, run_id: str,
              fingerprint: str, scores: Mapping[str, Any]) -> Registered:
    manifest = raw_serving(bundle)
    import mlflow.pyfunc
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    with tempfile.TemporaryDirectory(prefix="autosearch-mlflow-model-") as tmp:
        mlflow.pyfunc.save_model(
            path=str(Path(tmp) / "model"), python_model=str(CODE), signature=_signature(manifest),
            artifacts={"saved_model": str(bundle / "saved_model"), "manifest": str(bundle / "manifest.json")},
            pip_requirements=requirements())
        client.log_artifacts(mlflow_run_id, str(Path(tmp) / "model"), "model")
    try:
        client.create_registered_model(name)
    except Exception:  # noqa: BLE001 - it exists (RESOURCE_ALREADY_EXISTS): add a version to it
        pass
    tags = {"autosearch.run_id": run_id, "autosearch.fingerprint": str(fingerprint),
            "autosearch.metric": str(scores.get("metric")), "autosearch.validation": repr(float(scores["validation"])),
            "autosearch.test": repr(float(scores.get("test", math.nan)))}
    version = client.create_model_version(name, f"runs:/{mlflow_run_id}/model", run_id=mlflow_run_id, tags=tags)
    move, reason = _alias_decision(client, name, tags)
    if move:
        client.set_registered_model_alias(name, ALIAS, version.version)
    return Registered(name, str(version.version), move, reason)
