"""Load and validate a pipeline definition (a shipped ``autosearch/pipelines/*.toml`` or the user's file).

A pipeline file names the task, the data, the split, the search space and
the search budget. Every value can be overridden (CLI flags, ``make`` vars);
overrides go through the same validation as the file, so a bad value always
fails with the file, the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from autosearch import pipelines
from autosearch.errors import ConfigError
from autosearch.fileio import special_kind
from autosearch.spaces.graph import inputs_first, validate_graph  # light: no TensorFlow
from autosearch.spaces.registry import GRAPH, validate_space

TASKS: dict[str, tuple[str, str]] = {
    # task -> (input kind, problem)
    "text_classification": ("text", "classification"),
    "image_classification": ("image", "classification"),
    "structured_classification": ("structured", "classification"),
    "structured_regression": ("structured", "regression"),
}
TUNERS = ("greedy", "bayesian", "hyperband", "random")
CHECKPOINTS, ENSEMBLES = ("best", "all"), ("auto", "off", "always")
DIRECTIONS = ("max", "min")
# problem -> the validation metrics a trial reports (its head's metrics and loss) -> the direction that is better
OBJECTIVES: dict[str, dict[str, str]] = {
    "classification": {"val_accuracy": "max", "val_loss": "min"},
    "regression": {"val_mean_absolute_error": "min", "val_loss": "min"},
}


@dataclass(frozen=True)
class DataConfig:
    dataset: str
    text_column: str | None = None
    label_column: str | None = None
    feature_columns: tuple[str, ...] | None = None
    image_size: tuple[int, int] | None = None
    max_rows: int | None = None
    encoding: str | None = None  # of a CSV file; None: UTF-8, refused with a hint when it is not
    delimiter: str | None = None  # of a CSV file; None: detected (comma, tab, semicolon, pipe)


@dataclass(frozen=True)
class SplitConfig:
    validation: float = 0.1
    test: float = 0.2


@dataclass(frozen=True)
class SearchConfig:
    space: str
    objective: str
    direction: str
    tuner: str = "greedy"
    max_trials: int = 5
    epochs: int = 5
    time_budget: float | None = None  # seconds
    batch_size: int = 32
    patience: int = 3
    seed: int = 0
    max_model_size: int | None = None  # parameters; larger models are INVALID trials
    baselines: bool = True  # score majority and classical reference models on the same split
    checkpoints: str = "best"  # trial weights kept on disk: "best" (what the tuner and best model need) or "all"
    ensemble: str = "auto"  # "auto" (exported past tuning.ensemble's margin), "off", "always" (2+ members)


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    task: str
    data: DataConfig
    search: SearchConfig
    split: SplitConfig = SplitConfig()
    space: Mapping[str, Any] = field(default_factory=dict)
    graph: Mapping[str, Any] = field(default_factory=dict)  # an AutoKeras graph declared node by node
    source: str = "<dict>"

    @property
    def kind(self) -> str:
        return TASKS[self.task][0]

    @property
    def problem(self) -> str:
        return TASKS[self.task][1]

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("source")
        return out


_SECTIONS = {"data": DataConfig, "split": SplitConfig, "search": SearchConfig}
_TOP_KEYS = ("name", "task", "data", "split", "search", "space", "graph")
MIN_TIME_BUDGET = 1.0  # seconds; no budget at all is the key left out


def parse_duration(value: Any, where: str = "time_budget") -> float | None:
    """'90s', '10m', '1h30m' or a number of seconds -> seconds (None or '' = no budget). A budget under
    ``MIN_TIME_BUDGET`` (``0s``) is refused: it would not stop a trial, only mislead."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and parts and any(parts.groups()):
            h, m, s = (int(g or 0) for g in parts.groups())
            seconds = float(h * 3600 + m * 60 + s)
        else:
            raise ConfigError(f"{where} = {value!r} is not a duration; use e.g. 90s, 10m or 1h30m.")
    if not seconds >= MIN_TIME_BUDGET:  # also refuses nan
        raise ConfigError(f"{where} = {value!r} is too short; the minimum is {MIN_TIME_BUDGET:g}s "
                          "(leave it out for no time budget).")
    return seconds


def _check_keys(source: str, section: str, given: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in given:
        if key not in allowed:
            where = f"{section}.{key}" if section else key
            raise ConfigError(
                f"{source}: unknown key '{where}'; allowed keys{f' in [{section}]' if section else ''}: "
                f"{', '.join(allowed)}."
            )


def _coerce(source: str, key: str, value: Any, annotation: str) -> Any:
    """Coerce an override or TOML value to the field's declared type."""
    bad = ConfigError(f"{source}: {key} = {value!r} is not a valid {annotation}.")
    if value is None:
        return None
    if annotation == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} = {value!r} must be true or false.")
        return value
    if "tuple[int, int]" in annotation:
        if isinstance(value, str):
            value = [v for v in re.split(r"[x, ]+", value) if v]
        try:
            pair = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise bad from None
        if len(pair) != 2 or min(pair) < 1:
            raise ConfigError(f"{source}: {key} = {value!r} must be two positive sizes, e.g. [8, 8].")
        return pair
    if "tuple[str, ...]" in annotation:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise bad
        return tuple(value)
    if annotation.startswith("int"):
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise bad from None
    if annotation.startswith("float"):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad from None
    if annotation.startswith("str"):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise bad
        return str(value)
    return value


def _build_section(source: str, name: str, raw: Mapping[str, Any]) -> Any:
    cls = _SECTIONS[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(source, name, raw, tuple(fields))
    values = {}
    for key, value in raw.items():
        if key == "time_budget":
            values[key] = parse_duration(value, f"{source}: search.time_budget")
        else:
            values[key] = _coerce(source, f"{name}.{key}", value, str(fields[key].type))
    required = [
        f.name for f in fields.values()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [k for k in required if k not in values]
    if missing:
        raise ConfigError(f"{source}: [{name}] needs {', '.join(missing)}.")
    return cls(**values)


def _validate(cfg: PipelineConfig) -> None:
    src, s = cfg.source, cfg.search
    if s.tuner not in TUNERS:
        raise ConfigError(f"{src}: search.tuner = '{s.tuner}' is not allowed; use one of {', '.join(TUNERS)}.")
    for key, allowed in (("checkpoints", CHECKPOINTS), ("ensemble", ENSEMBLES)):
        if getattr(s, key) not in allowed:
            raise ConfigError(f"{src}: search.{key} = '{getattr(s, key)}' is not allowed; use {', '.join(allowed)}.")
    if s.direction not in DIRECTIONS:
        raise ConfigError(f"{src}: search.direction = '{s.direction}' is not allowed; use max or min.")
    _validate_objective(cfg)
    for key in ("max_trials", "epochs", "batch_size"):
        if getattr(s, key) < 1:
            raise ConfigError(f"{src}: search.{key} = {getattr(s, key)} must be at least 1.")
    if not 0 <= s.seed < 2**32:
        raise ConfigError(f"{src}: search.seed = {s.seed} must be between 0 and 2**32 - 1.")
    if s.patience < 0:
        raise ConfigError(f"{src}: search.patience = {s.patience} must be 0 (off) or more.")
    sp = cfg.split
    if not (0 < sp.validation < 1 and 0 < sp.test < 1 and sp.validation + sp.test < 0.9):
        raise ConfigError(
            f"{src}: split.validation = {sp.validation}, split.test = {sp.test}: each must be in (0, 1) "
            "and together leave at least 10% for training."
        )
    if cfg.data.max_rows is not None and cfg.data.max_rows < 1:
        raise ConfigError(f"{src}: data.max_rows = {cfg.data.max_rows} must be at least 1 (omit it for all rows).")


def _validate_objective(cfg: PipelineConfig) -> None:
    """The objective is a metric this task's trials report, ranked in the direction that is better."""
    src, s, metrics = cfg.source, cfg.search, OBJECTIVES[cfg.problem]
    valid = ", ".join(f"{m} ({d})" for m, d in metrics.items())
    if s.objective not in metrics:
        raise ConfigError(f"{src}: search.objective = '{s.objective}' is not a metric a {cfg.task} trial reports; "
                          f"use one of {valid}.")
    if s.direction != metrics[s.objective]:
        raise ConfigError(f"{src}: search.direction = '{s.direction}' would rank the worst {s.objective} first; "
                          f"use direction = \"{metrics[s.objective]}\".")


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    section, _, leaf = key.rpartition(".")
    target = raw
    if section:
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"override {key}: [{section}] is not a table.")
    target[leaf] = value


def _has_dotted(raw: Mapping[str, Any], key: str) -> bool:
    section, _, leaf = key.rpartition(".")
    target = raw.get(section) if section else raw
    return not isinstance(target, Mapping) or leaf in target  # not a table: the merged pass says so


def _copy(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in raw.items()}


def from_dict(raw: Mapping[str, Any], source: str = "<dict>", overrides: Mapping[str, Any] | None = None) -> PipelineConfig:
    """Validate a raw mapping (a parsed TOML file) plus dotted-key overrides (None: keep the file's value).
    The file's own values are validated first, each of them, even those an override replaces: a bad value in
    a file fails with the file and its key whatever the command line says (overrides fill only what it lacks)."""
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if given:
        own = _copy(raw)
        for key, value in given.items():
            if not _has_dotted(own, key):
                _set_dotted(own, key, value)
        try:
            _from_raw(own, source)
        except ConfigError as exc:
            if not any(f"{key} =" in str(exc) or f"'{key}'" in str(exc) for key in given if _has_dotted(raw, key)):
                raise
            raise ConfigError(f"{exc} That is the file's own value: fix it there, even though an override "
                              "replaces it.") from None
    merged = _copy(raw)
    for key, value in given.items():
        _set_dotted(merged, key, value)
    return _from_raw(merged, source)


def _from_raw(raw: dict[str, Any], source: str) -> PipelineConfig:
    """Validate one raw mapping (``from_dict``)."""
    _check_keys(source, "", raw, _TOP_KEYS)
    for key in ("name", "task", "data", "search"):
        if key not in raw:
            raise ConfigError(f"{source}: missing '{key}'; a pipeline needs name, task, [data] and [search].")
    task = raw["task"]
    if task not in TASKS:
        raise ConfigError(f"{source}: task = '{task}' is unknown; use one of {', '.join(TASKS)}.")
    for key in ("data", "split", "search", "space", "graph"):
        if key in raw and not isinstance(raw[key], dict):
            raise ConfigError(f"{source}: '{key}' must be a table ([{key}]).")
    if raw.get("graph") == {}:  # a recorded config without a graph
        del raw["graph"]
    if "graph" in raw and isinstance(raw["search"], dict):
        raw["search"].setdefault("space", GRAPH)
        if raw["search"]["space"] != GRAPH:
            raise ConfigError(f"{source}: a pipeline with [graph] searches that graph; remove search.space "
                              f"(or set it to \"{GRAPH}\").")
    elif isinstance(raw["search"], dict) and raw["search"].get("space") == GRAPH:
        raise ConfigError(f"{source}: search.space = \"{GRAPH}\" needs [graph.<id>] tables declaring the graph.")
    cfg = PipelineConfig(
        name=str(raw["name"]),
        task=task,
        data=_build_section(source, "data", raw["data"]),
        search=_build_section(source, "search", raw["search"]),
        split=_build_section(source, "split", raw.get("split", {})),
        space=dict(raw.get("space", {})),
        source=source,
    )
    _validate(cfg)
    graph = validate_graph(source, raw["graph"], cfg.kind, cfg.problem) if "graph" in raw else {}
    return dataclasses.replace(cfg, space=validate_space(source, cfg.search.space, cfg.kind, cfg.space), graph=graph)


def load_pipeline(name_or_path: str | Path, overrides: Mapping[str, Any] | None = None) -> PipelineConfig:
    """Read, merge overrides into and validate a pipeline: a shipped one by name, or a TOML file by path."""
    path = pipelines.resolve(name_or_path)
    kind = special_kind(path)
    if kind:
        raise ConfigError(f"pipeline file '{path}' is not a regular file but {kind}; give a TOML file.")
    if not path.is_file():
        known = ", ".join(pipelines.shipped_names())
        if pipelines.is_bare_name(name_or_path):
            raise ConfigError(f"unknown pipeline '{name_or_path}': known pipelines: {known}; or give the path "
                              f"of a .toml file ('autosearch pipelines' lists them).")
        raise ConfigError(f"pipeline file '{path}' not found; give an existing .toml file or the name of a "
                          f"shipped pipeline (known pipelines: {known}).")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}.") from None
    return from_dict(raw, source=str(path), overrides=overrides)


def config_from_run(run_config: Mapping[str, Any], run_id: str) -> PipelineConfig:
    """The resolved pipeline a run recorded, validated again (for export and reproduce)."""
    raw = {k: (inputs_first(v) if k == "graph" else v) for k, v in run_config.items() if k != "source"}
    return from_dict(raw, source=f"run {run_id}")
