"""Pipeline files: what loads, what is rejected and how overrides apply."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PIPELINES

from autosearch.config import TASKS, load_pipeline, parse_duration
from autosearch.errors import ConfigError


@pytest.mark.parametrize("path", sorted(PIPELINES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_pipeline_is_valid(path: Path) -> None:
    cfg = load_pipeline(path)
    assert cfg.task in TASKS
    assert cfg.search.max_trials >= 1 and cfg.search.epochs >= 1


def test_one_pipeline_per_task_is_shipped() -> None:
    tasks = {load_pipeline(p).task for p in PIPELINES.glob("*.toml")}
    assert tasks == set(TASKS)


def test_pipeline_can_be_named_without_path_or_suffix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # from any directory: the shipped pipelines are package data
    cfg = load_pipeline("image")
    assert cfg.task == "image_classification" and cfg.source == str(PIPELINES / "image.toml")


def test_a_path_names_the_users_file_even_when_it_shares_a_shipped_name(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "text.toml").write_text(PIPELINES.joinpath("text.toml").read_text().replace('name = "text"',
                                                                                            'name = "mine"'))
    (tmp_path / "mypipeline").write_text((tmp_path / "text.toml").read_text())
    assert load_pipeline("text.toml").name == "mine" and load_pipeline("./text.toml").name == "mine"
    assert load_pipeline("mypipeline").name == "mine"  # a word that is no shipped name: a file here
    assert load_pipeline("text").name == "text"


def test_an_unknown_pipeline_name_lists_the_shipped_ones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"unknown pipeline 'txt': known pipelines: ak_image, .*, text; or give "
                                          r"the path of a \.toml file \('autosearch pipelines' lists them\)"):
        load_pipeline("txt")


def test_overrides_replace_file_values() -> None:
    cfg = load_pipeline(PIPELINES / "text.toml", {"search.max_trials": 5, "search.time_budget": "10m",
                                                  "data.dataset": "my.csv", "search.tuner": None})
    assert (cfg.search.max_trials, cfg.search.time_budget, cfg.data.dataset) == (5, 600.0, "my.csv")
    assert cfg.search.tuner == "greedy"  # None means: keep the file's value


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(PIPELINES.joinpath("text.toml").read_text() + text)
    return path


def test_unknown_key_names_file_key_and_allowed_keys(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(PIPELINES.joinpath("text.toml").read_text().replace("max_trials", "max_trial"))
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    msg = str(info.value)
    assert str(path) in msg and "search.max_trial" in msg and "max_trials" in msg


@pytest.mark.parametrize("override, words", [
    ({"search.tuner": "grid"}, ["search.tuner", "greedy, bayesian, hyperband, random"]),
    ({"search.direction": "up"}, ["search.direction", "max or min"]),
    ({"search.epochs": 0}, ["search.epochs", "at least 1"]),
    ({"search.max_trials": "many"}, ["search.max_trials", "not a valid int"]),
    ({"search.time_budget": "soon"}, ["time_budget", "10m"]),
    ({"search.space": "transformer"}, ["search.space", "text_embedding_pool"]),
    ({"split.test": 0.95}, ["split.test", "training"]),
    ({"task": "video_classification"}, ["task", "text_classification"]),
    ({"space.dropout": ["high"]}, ["space.dropout"]),
    ({"space.max_tokens": [100, 200]}, ["space.max_tokens", "fixed setting"]),
    ({"space.optimizer": "adagrad"}, ["space.optimizer", "adam"]),
    ({"space.depth": 3}, ["space.depth", "embedding_dim"]),
    ({"search.seed": -1}, ["search.seed", "2**32"]),
])
def test_bad_values_name_the_key_and_what_is_allowed(override: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_pipeline(PIPELINES / "text.toml", override)
    for word in words:
        assert word in str(info.value)


def test_space_of_the_wrong_kind_is_rejected() -> None:
    with pytest.raises(ConfigError, match="image_conv"):
        load_pipeline(PIPELINES / "text.toml", {"search.space": "image_conv"})


def test_space_defaults_fill_in_and_lists_stay_choices() -> None:
    cfg = load_pipeline(PIPELINES / "text.toml", {"space.dropout": [0, 0.5]})
    assert cfg.space["dropout"] == [0.0, 0.5]
    assert cfg.space["optimizer"] == "adam"


def test_missing_pipeline_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="known pipelines: .*structured"):
        load_pipeline(PIPELINES / "nope.toml")


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("1h30m", 5400), ("45", 45), ("1s", 1),
                                           (2.5, 2.5), (None, None), ("", None)])
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("value", ["0", "0s", "0m", 0, 0.0, "0.5", 0.2])
def test_a_time_budget_under_a_second_is_refused_with_the_minimum(value) -> None:
    with pytest.raises(ConfigError, match=r"is too short; the minimum is 1s \(leave it out for no time budget\)"):
        parse_duration(value)
    with pytest.raises(ConfigError, match="search.time_budget"):
        load_pipeline(PIPELINES / "text.toml", {"search.time_budget": value})


@pytest.mark.parametrize("pipeline, objective, valid", [
    ("text", "val_f1", "val_accuracy (max), val_loss (min)"),
    ("image", "accuracy", "val_accuracy (max), val_loss (min)"),
    ("structured_regression", "val_accuracy", "val_mean_absolute_error (min), val_loss (min)"),
    ("structured", "val_mean_absolute_error", "val_accuracy (max), val_loss (min)"),
])
def test_the_objective_must_be_a_metric_the_task_reports_and_the_message_lists_them(
        pipeline: str, objective: str, valid: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_pipeline(PIPELINES / f"{pipeline}.toml", {"search.objective": objective})
    assert f"search.objective = '{objective}' is not a metric" in str(info.value) and valid in str(info.value)


@pytest.mark.parametrize("pipeline, objective, direction", [
    ("text", "val_loss", "min"), ("structured_regression", "val_loss", "min"), ("image", "val_accuracy", "max")])
def test_every_metric_a_task_reports_is_a_valid_objective(pipeline: str, objective: str, direction: str) -> None:
    cfg = load_pipeline(PIPELINES / f"{pipeline}.toml", {"search.objective": objective, "search.direction": direction})
    assert (cfg.search.objective, cfg.search.direction) == (objective, direction)


def test_a_direction_that_ranks_the_worst_first_is_refused() -> None:
    with pytest.raises(ConfigError, match="search.direction = 'max' would rank the worst val_loss first; "
                                          "use direction = \"min\""):
        load_pipeline(PIPELINES / "text.toml", {"search.objective": "val_loss"})


@pytest.mark.parametrize("line, override, words", [
    ("epochs = -5", {"search.epochs": 3}, "search.epochs = -5 must be at least 1"),
    ("max_trials = 0", {"search.max_trials": 2}, "search.max_trials = 0 must be at least 1"),
    ("tuner = \"grid\"", {"search.tuner": "random"}, "search.tuner = 'grid' is not allowed"),
    ("time_budget = \"0s\"", {"search.time_budget": "1m"}, "search.time_budget = '0s' is too short"),
])
def test_a_bad_value_in_the_file_is_reported_even_when_an_override_replaces_it(
        tmp_path: Path, line: str, override: dict, words: str) -> None:
    key = line.split(" =")[0]
    path = tmp_path / "p.toml"
    path.write_text("\n".join(line if row.startswith(f"{key} =") else row
                              for row in PIPELINES.joinpath("text.toml").read_text().splitlines()))
    with pytest.raises(ConfigError) as info:
        load_pipeline(path, override)
    assert str(info.value).startswith(f"{path}: {words}") and "the file's own value" in str(info.value)


def test_an_override_may_supply_what_the_file_lacks(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(PIPELINES.joinpath("text.toml").read_text().replace('dataset = "rotten_tomatoes"', ""))
    with pytest.raises(ConfigError, match=r"\[data\] needs dataset"):
        load_pipeline(path)
    assert load_pipeline(path, {"data.dataset": "my.csv"}).data.dataset == "my.csv"


def test_a_bad_override_is_still_reported_when_the_file_is_valid() -> None:
    with pytest.raises(ConfigError) as info:
        load_pipeline(PIPELINES / "text.toml", {"search.epochs": -1})
    assert "search.epochs = -1" in str(info.value) and "the file's own value" not in str(info.value)


def test_a_graph_pipeline_comes_back_from_the_tracker_in_its_declared_order(tmp_path: Path) -> None:
    import json

    from autosearch.config import config_from_run
    from autosearch.tracking import get_tracker
    from autosearch.tracking.records import RunInfo

    cfg = load_pipeline(PIPELINES / "ak_structured.toml")
    tracker = get_tracker(f"sqlite:///{tmp_path / 'tracker.db'}")
    tracker.start_run(RunInfo(run_id="r1", pipeline=cfg.name, task=cfg.task, dataset="d", seed=0, started_at=0.0,
                              config=cfg.to_dict()))
    recorded = tracker.get_run("r1").config
    assert list(recorded["graph"]) == list(cfg.graph), "the tracker keeps the nodes in declaration order"
    assert config_from_run(recorded, "r1").graph == cfg.graph
    # a run recorded by an earlier release holds its nodes sorted by id: its inputs come first again
    old = json.loads(json.dumps(cfg.to_dict(), sort_keys=True))
    assert list(old["graph"]) != list(cfg.graph)
    assert list(config_from_run(old, "r0").graph) == list(cfg.graph)
