"""export and predict write only what they own, and search and predict read only files they can finish.

Every refusal is one stderr line, exit code 2, no traceback, and the files around it are left as they
were (same names, same bytes). The cases that need a model share one tiny structured search on a CSV of
ages, cities and yes/no labels; the others fail before TensorFlow is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PIPELINES, ROOT

from autosearch.config import load_pipeline
from autosearch.tracking.sqlite import SQLiteTracker
from autosearch.workflows.search import run_search


def people(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    age = rng.integers(20, 80, n).astype(float)
    return pd.DataFrame({"age": age, "city": rng.choice(["oslo", "rome"], n),
                         "label": np.where(age > 50, "yes", "no")})


@dataclass(frozen=True)
class Shared:
    """The one tiny search of this module."""

    tracker_uri: str
    run_id: str
    run_dir: Path
    bundle: Path


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    home = tmp_path_factory.mktemp("safe_home")
    data = tmp_path_factory.mktemp("safe_data") / "people.csv"
    people().to_csv(data, index=False)
    cfg = load_pipeline(PIPELINES / "structured.toml", {"data.dataset": str(data), "search.max_trials": 1,
                                                        "search.epochs": 1, "search.ensemble": "off"})
    tracker = SQLiteTracker(home / "tracker.db")
    result = run_search(cfg, tracker, home)
    return Shared(tracker.uri, result.run_id, result.run_dir, result.bundle)


@dataclass
class Ctx:
    """What a case builds its arguments from: its own work folder, and copies of the shared bundle in it."""

    t: Path
    shared: Shared | None = None
    copies: dict[str, Path] = field(default_factory=dict)

    def bundle(self, name: str = "bundle") -> Path:
        if name not in self.copies:
            assert self.shared is not None
            self.copies[name] = self.t / name
            shutil.copytree(self.shared.bundle, self.copies[name])
        return self.copies[name]

    def export(self, out: Path | str) -> list[str]:
        assert self.shared is not None
        return ["export", self.shared.run_id, "--out", str(out), "--tracker", self.shared.tracker_uri]


def text(t: Path, content: str, name: str = "in.csv") -> str:
    (t / name).write_text(content)
    return str(t / name)


def fifo(t: Path, name: str = "in.csv") -> str:
    os.mkfifo(t / name)
    return str(t / name)


def predict(c: Ctx, source: str, output: str, *more: str) -> list[str]:
    return ["predict", str(c.bundle()), "--input", source, "--output", output, *more]


def a_folder_of_mine(t: Path) -> str:
    """The issue's example: a folder of the user's that happens to hold a manifest.json."""
    g = t / "g"
    (g / "sub").mkdir(parents=True)
    (g / "manifest.json").write_text('{"project":"mine"}\n')
    (g / "sub" / "data.txt").write_text("d\n")
    (g / "notes.txt").write_text("n\n")
    return str(g)


def with_extra(bundle: Path, rel: str) -> Path:
    """A user's file added to a real bundle folder."""
    (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
    (bundle / rel).write_text("id,prediction\n1,yes\n")
    return bundle


def not_json(t: Path) -> Path:
    (t / "h").mkdir()
    (t / "h" / "manifest.json").write_text("{oops")
    return t / "h"


def with_empty_folder(bundle: Path) -> Path:
    (bundle / "later").mkdir()
    return bundle


def linked(t: Path, how: str) -> str:
    """out.csv: a hard link or a symbolic link to in.csv."""
    (os.link if how == "hard" else os.symlink)(t / "in.csv", t / "out.csv")
    return str(t / "out.csv")


def images(t: Path) -> str:
    """An image folder of two classes whose 'dog' folder also holds a named pipe called pipe.png."""
    from PIL import Image

    root = t / "photos"
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    os.mkfifo(root / "dog" / "pipe.png")
    return str(root)


Args = Callable[[Ctx], list[str]]
STRUCTURED = ["search", "--pipeline", "structured", "--max-trials", "1", "--epochs", "1"]

# name -> (argv after `autosearch`, key words of the one line); these fail before any model is loaded
NO_MODEL: dict[str, tuple[Args, list[str]]] = {
    "search --data is a FIFO without a writer": (lambda c: ["search", "--data", fifo(c.t)],
                                                 ["in.csv: not a regular file", "a named pipe (FIFO)"]),
    "search --data is /dev/zero": (lambda c: ["search", "--data", "/dev/zero"],
                                   ["/dev/zero: not a regular file", "a character device"]),
    "search --data image folder holds a FIFO": (lambda c: ["search", "--pipeline", "image", "--data", images(c.t)],
                                                ["pipe.png: not a regular file", "a named pipe (FIFO)"]),
    "search --data numeric feature holds 'abc'": (
        lambda c: [*STRUCTURED, "--data", text(c.t, people().assign(
            age=lambda f: f.age.astype(object).where(f.index != 6, "abc")).to_csv(index=False))],
        ["feature column 'age' holds numbers, but data row 7 holds 'abc'", "leave the cell empty"]),
    "search --data numeric feature holds '?' twice": (
        lambda c: [*STRUCTURED, "--data", text(c.t, people().assign(
            age=lambda f: f.age.astype(object).where(~f.index.isin([3, 9]), "?")).to_csv(index=False))],
        ["feature column 'age' holds numbers, but data row 4 holds '?' (2 such cells, data rows [4, 10])"]),
}

MODEL: dict[str, tuple[Args, list[str]]] = {
    # what predict reads
    "predict --input is a FIFO without a writer": (lambda c: predict(c, fifo(c.t), str(c.t / "out.csv")),
                                                   ["in.csv: not a regular file", "a named pipe (FIFO)"]),
    "predict --input is /dev/zero": (lambda c: predict(c, "/dev/zero", str(c.t / "out.csv")),
                                     ["/dev/zero: not a regular file", "a character device"]),
    "predict --input is a folder for a table model": (
        lambda c: predict(c, str(c.t), str(c.t / "out.csv")), ["is a folder", "give a CSV file"]),
    "predict CSV row with more fields than the header": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo, extra\n41,rome\n"), str(c.t / "out.csv")),
        ["in.csv: line 2 has more fields than the header's 2 columns", "delimiter: comma"]),
    "predict CSV row with more fields in a later batch": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\n41,rome\n52,oslo,x\n"), str(c.t / "out.csv"),
                          "--batch-rows", "2"), ["in.csv", "line 4", "Expected 2 fields"]),
    "predict feature holds inf": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\ninf,rome\n"), str(c.t / "out.csv")),
        ["in.csv: feature column 'age' holds 1 infinite value (data rows [2])", "leave the cells empty"]),
    "predict feature holds -inf in a later batch": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\n41,rome\n50,rome\n-inf,oslo\n"), str(c.t / "out.csv"),
                          "--batch-rows", "2"), ["feature column 'age' holds 1 infinite value (data rows [4])"]),
    "predict numeric feature holds 'abc'": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\nabc,rome\n"), str(c.t / "out.csv")),
        ["in.csv: feature column 'age' holds numbers, but data row 2 holds 'abc'"]),
    "predict numeric feature holds 'abc' in a later batch": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\n41,rome\nabc,rome\n"), str(c.t / "out.csv"),
                          "--batch-rows", "2"), ["feature column 'age' holds numbers, but data row 3 holds 'abc'"]),
    # where predict writes
    "predict --output is the --input": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\n"), str(c.t / "in.csv")),
        ["--output", "in.csv is the input file", "give another path"]),
    "predict --output is a hard link to the --input": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\n"), linked(c.t, "hard")), ["out.csv is the input file"]),
    "predict --output is a symlink to the --input": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\n"), linked(c.t, "soft")), ["out.csv is the input file"]),
    "predict --output is the bundle's manifest": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\n"), str(c.bundle() / "manifest.json")),
        ["manifest.json lies inside the bundle", "write it elsewhere"]),
    "predict --output in a bundle's sub-folder": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\n"), str(c.bundle() / "saved_model" / "p.csv")),
        ["p.csv lies inside the bundle"]),
    "predict --output is an existing folder": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\n"), str(c.t)), ["is a folder", "give the path of a CSV file"]),
    "predict --output names a folder (trailing slash)": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\n"), str(c.t / "preds") + "/"), ["preds/ is a folder"]),
    # a named pipe of the test's own, not /dev/null: a regression that renames over it must not break the machine
    "predict --output is a named pipe": (
        lambda c: predict(c, text(c.t, "age,city\n30,oslo\n"), fifo(c.t, "out.csv")),
        ["out.csv is a named pipe (FIFO)", "not a file predict can replace"]),
    # where export writes
    "export --out a folder with a manifest.json of the user's": (
        lambda c: c.export(a_folder_of_mine(c.t)),
        ["g/manifest.json is not an autosearch bundle manifest", "nothing was written"]),
    "export --out a folder whose manifest.json is not JSON": (
        lambda c: c.export(not_json(c.t)), ["h/manifest.json is not an autosearch bundle manifest"]),
    "export --out a bundle folder with a file of the user's": (
        lambda c: c.export(with_extra(c.bundle(), "results/preds.csv")),
        ["bundle holds results/preds.csv", "not one of the files its manifest lists", "Move it out"]),
    "export --out a bundle folder with a notes file beside the model": (
        lambda c: c.export(with_extra(c.bundle(), "notes.txt")), ["bundle holds notes.txt"]),
    "export --out a bundle folder with an empty folder of the user's": (
        lambda c: c.export(with_empty_folder(c.bundle())), ["bundle holds later/"]),
    "export --out is a file": (lambda c: c.export(text(c.t, "x\n", "out")), ["out is a file, not a bundle folder"]),
}


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root``: a file's sha256, else what it is (never opening a FIFO)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = f"link to {os.readlink(p)}"
        elif p.is_fifo():
            out[rel] = "fifo"
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def refused(res, words: list[str]) -> str:
    assert res.code == 2, res.err[-3000:]
    assert "Traceback" not in res.err
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1 and res.err.strip() == lines[0], res.err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("case", list(NO_MODEL))
def test_bad_file_for_search_gets_one_line_and_nothing_is_written(case: str, cli, home: Path, tmp_path: Path) -> None:
    work = tmp_path / "in"
    work.mkdir()
    make_args, words = NO_MODEL[case]
    args = make_args(Ctx(work))
    before = snapshot(work)
    line = refused(cli(*args, timeout=60), words)
    assert snapshot(work) == before
    assert not (home / "tracker.db").exists() and not (home / "runs").exists()
    print(f"{case}\t{line}")


@pytest.mark.search
@pytest.mark.parametrize("case", list(MODEL))
def test_export_and_predict_refuse_to_touch_what_they_did_not_write(case: str, shared: Shared, cli,
                                                                     tmp_path: Path) -> None:
    work = tmp_path / "in"
    work.mkdir()
    make_args, words = MODEL[case]
    args = make_args(Ctx(work, shared))
    before, run_before = snapshot(work), sorted(snapshot(shared.run_dir))
    line = refused(cli(*args, timeout=120), words)
    assert snapshot(work) == before
    assert sorted(snapshot(shared.run_dir)) == run_before
    print(f"{case}\t{line}")


# -- export replaces its own bundle, refuses early, and keeps the old one on failure -------------------

@pytest.mark.search
def test_export_replaces_a_bundle_it_wrote(shared: Shared, cli, tmp_path: Path) -> None:
    """A real bundle, with SavedModel's empty assets/ folder, is replaced; no temporary folder is left."""
    out = tmp_path / "bundle"
    shutil.copytree(shared.bundle, out)
    assert (out / "saved_model" / "assets").is_dir() and not any((out / "saved_model" / "assets").iterdir())
    old = json.loads((out / "manifest.json").read_text())
    res = cli("export", shared.run_id, "--out", str(out), "--tracker", shared.tracker_uri)
    assert res.code == 0, res.err[-3000:]
    new = json.loads((out / "manifest.json").read_text())
    assert new["created_at"] > old["created_at"] and new["trial_id"] == old["trial_id"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


REFUSE_EARLY = """
import sys, time
from autosearch.cli import main
start = time.monotonic()
code = main(sys.argv[1:])
print(code, round(time.monotonic() - start, 2), "tensorflow" in sys.modules, "autokeras" in sys.modules)
"""


@pytest.mark.search
def test_export_refuses_a_folder_before_loading_anything(shared: Shared, tmp_path: Path) -> None:
    """Both a given --out and the default bundle folder of the run are checked before TensorFlow loads."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    extra = shared.bundle / "my notes.txt"
    extra.write_text("mine")
    try:
        for out in ([], ["--out", a_folder_of_mine(tmp_path)]):
            proc = subprocess.run([sys.executable, "-c", REFUSE_EARLY, "export", shared.run_id, *out, "--tracker",
                                   shared.tracker_uri], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            code, _, tf, ak = proc.stdout.split()
            assert (code, tf, ak) == ("2", "False", "False"), proc.stdout + proc.stderr
            assert ("my notes.txt" if not out else "not an autosearch bundle manifest") in proc.stderr
        assert extra.read_text() == "mine"
    finally:
        extra.unlink()
