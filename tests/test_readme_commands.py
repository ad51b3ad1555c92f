"""The README stays true: every shell command it shows (lines of ```sh and ```bash blocks, ``autosearch ...``
lines of other blocks, and inline ``autosearch ...`` spans) is either run here against a copy of the session's
tiny search, or named below with the reason it is not.

The commands run as a reader would type them, in a folder whose ``artifacts/`` is the tiny run's home (the
default ``AUTOSEARCH_HOME``), with ``.venv``, ``examples`` and the ``Makefile`` linked in, ``autosearch`` on the
PATH, and ``COLUMNS=120``; placeholders (``RUN_ID``, ``<run id>``, ``RUN/3``...) become the tiny run's ids. A
command skipped as too long or needing a server is still checked: its ``autosearch`` arguments parse, its
``--pipeline`` names a shipped pipeline or an existing file, and a ``make`` target expands (``make -n``).
A README command in neither list fails the test, as does a list entry the README no longer has.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT
from tiny_run_home import copy_home

from autosearch.cli import parser
from autosearch.pipelines import is_bare_name, shipped_names

pytestmark = pytest.mark.search
README = ROOT / "README.md"

# command as the README writes it -> (exit code, text the output must hold)
RUN = {
    "make leaderboard": (0, "val_accuracy"),
    "autosearch leaderboard --all-runs --task text --status completed --kind search --sort -duration_s --top 10":
        (0, "rank"),
    "autosearch leaderboard --format csv > trials.csv": (0, ""),
    "autosearch runs": (0, "tiny text"),
    "autosearch compare RUN/3 RUN/5": (0, "data fingerprints match"),
    "autosearch compare RUN_A RUN_B": (0, "[configuration: identical]"),
    "autosearch rm RUN_ID": (2, "pass --yes"),
    "autosearch gc --keep-best": (2, "pass --yes"),
    "make report": (0, "index.html"),
    "make export RUN=<run id> [TRIAL=<n>]": (0, "Bundle of"),
    "make predict BUNDLE=artifacts/runs/<run id>/export INPUT=reviews.csv OUTPUT=predictions.csv":
        (0, "predictions written to predictions.csv"),
    "autosearch resume RUN_ID": (2, "nothing to resume"),
    "autosearch leaderboard": (0, "rank"),
    "autosearch leaderboard --top 20": (0, "rank"),
    "autosearch --help": (0, "usage: autosearch"),
    "autosearch report": (0, "wrote"),
    "autosearch --version": (0, "autosearch"),
    "autosearch pipelines": (0, "text (default)"),
    "autosearch predict BUNDLE --input reviews.csv --output out.csv --text-column review":
        (0, "predictions written to out.csv"),
    "autosearch report RUN_ID [RUN_ID ...]": (0, "index.html"),
    "autosearch report --all-runs --pipeline text": (0, "index.html"),
    "autosearch report --index-only --tag team=nlp": (0, "index.html"),
    "saved_model_cli show --dir artifacts/runs/<run id>/export/saved_model --all": (0, "serving_default"),
    "saved_model_cli run --dir artifacts/runs/<run id>/export/saved_model --tag_set serve --signature_def "
    "serving_default --input_exprs 'text=[\"a moving film\", \"dull\"]'": (0, "Result for output key"),
    "mkdir -p serving/reviews && cp -r artifacts/runs/<run id>/export/saved_model serving/reviews/1": (0, ""),
    "autosearch leaderboard --sort params --wide": (0, "params"),
    "autosearch runs --pipeline text --status completed --tag team --verdict search": (0, ""),
    "autosearch tag RUN_ID team=nlp stage=final --name \"lr sweep\" --note \"kept for the paper\"":  # last: it
        (0, "name lr sweep; tags stage=final, team=nlp"),  # renames the run the commands above look for
}
SKIP = {  # reviewed: why each is not run here
    "pip install .": "installs the package (make install did; tests/test_package.py builds and installs the wheel)",
    "cd ~/anywhere": "a folder of the reader's: these commands run in a folder of their own",
    "autosearch search": "the default text search: too long",
    "autosearch search --max-rows 2000 --max-trials 2 --epochs 2": "two trials on 2,000 rows: too long here (the "
                                                                    "tests' tiny search: 2 trials on 300 rows)",
    "autosearch predict BUNDLE --input t.csv --output out.csv --column \"mean radius=radius\" --column "
    "\"mean texture=texture\"": "needs a structured bundle (tests/test_package.py maps columns on one)",
    "make install && make search TASK=text": "installs packages, then a full text search (minutes)",
    "make test": "the whole test suite, this test among it",
    "make search TASK=text MAX_TRIALS=5 EPOCHS=3 TUNER=random TIME_BUDGET=10m": "five text trials: too long",
    ".venv/bin/autosearch search --pipeline text --max-trials 5 --time-budget 10m --data my.csv --text-column review "
    "--label-column label": "five text trials: too long",
    "PYTHONPATH=examples/user_space .venv/bin/autosearch search --pipeline examples/user_space/pipeline.toml":
        "a full search of the example space: too long",
    "make search TASK=text TRACKER=clearml://my-project": "needs a ClearML server",
    ".venv/bin/autosearch search --pipeline text --tracker clearml://my-project --offline":
        "a full text search: too long (test_clearml.py runs a tiny offline one)",
    ".venv/bin/autosearch clearml-upload RUN_ID": "needs a ClearML server",
    "autosearch clearml-upload RUN_ID": "needs a ClearML server",
    "autosearch search --pipeline structured --workers 2": "a distributed search: too long (test_distributed.py)",
    "export AUTOSEARCH_TRACKING_URI='postgresql://autosearch@db.example:5432/autosearch?sslmode=verify-full&"
    "sslrootcert=/etc/autosearch/db-ca.pem'": "needs a PostgreSQL server",
    "export AUTOSEARCH_HOME=/shared/autosearch": "a shared file system's path",
    "autosearch chief --pipeline structured --host 0.0.0.0 --port 8470 --tls-cert /etc/autosearch/chief.pem "
    "--tls-key /etc/autosearch/chief.key": "serves workers on other machines, with a certificate of theirs",
    "docker run -p 8501:8501 -v \"$PWD/serving/reviews:/models/reviews\" -e MODEL_NAME=reviews tensorflow/serving":
        "needs Docker and the TensorFlow Serving image",
    "curl -s localhost:8501/v1/models/reviews:predict -d @request.json": "needs TensorFlow Serving running",
    "mlflow server --backend-store-uri sqlite:///mlflow.db --artifacts-destination ./mlartifacts --host 0.0.0.0 "
    "--port 5000": "starts a server (tests/mlflowserver.py runs one for the MLflow tests)",
    "autosearch search --pipeline text --tracker mlflow+http://localhost:5000 --register text-clf":
        "needs an MLflow server, and a full text search: too long",
    "export MLFLOW_TRACKING_URI=http://localhost:5000": "points at an MLflow server",
    "autosearch search --pipeline text --tracker mlflow": "a full text search: too long",
    "mlflow ui --backend-store-uri sqlite:///artifacts/mlflow.db": "starts a web server",
    "make reproduce TRIAL=20261124-155147-2248/4": "trains a trial again: too long (test_reproduce.py)",
    "autosearch reproduce TRIAL --export": "trains a trial again: too long (test_reproduce.py)",
    "autosearch export RUN": "the same export as 'make export RUN=<run id>', run above",
    "autosearch search --pipeline text --name \"lr sweep\" --note \"after the tokenizer fix\" --tag team=nlp":
        "a full text search: too long (the tests' tiny search runs with --name, --note and --tag)",
}
NOT_COMMANDS = {  # inline spans that name a command or quote its output
    "autosearch reproduce": "names the command",
    "autosearch predict": "names the command",
    "autosearch rm": "names the command",
    "autosearch export --out DIR": "names an option",
    "autosearch tag RUN_ID KEY=VALUE ... [--remove KEY] [--name NAME] [--note NOTE]": "the command's usage",
    "autosearch tag --tracker clearml://<project>": "names an option (the ClearML session is tested in test_tags_clearml)",
    "autosearch reproduce: argument --tolerance: must be 0 or more, got -1; see 'autosearch reproduce --help'.":
        "quotes an error message",
}
PLACEHOLDERS = [  # README placeholder -> the tiny run's value ({run}: its id)
    ("RUN/3", "{run}/0"), ("RUN/5", "{run}/1"), ("[TRIAL=<n>]", "TRIAL=1"), ("<run id>", "{run}"),
    ("[RUN_ID ...]", ""),
    ("RUN_ID", "{run}"), ("RUN_A", "{run}"), ("RUN_B", "{run}"), ("TRIAL_ID", "{run}/1"),
]


def readme_commands(text: str) -> list[str]:
    """The README's shell commands, each once, in order: comments dropped, continued lines joined."""
    found: list[str] = []
    block: str | None = None
    pending = ""
    for line in text.splitlines():
        if line.startswith("```"):
            block = line[3:].strip() if block is None else None
            continue
        if block in ("sh", "bash"):
            line = pending + re.sub(r"(^|\s)#.*$", "", line).strip()
            pending = line[:-1].strip() + " " if line.endswith("\\") else ""
            if line and not pending:
                found.append(" ".join(line.split()))
        elif block is None:
            found += re.findall(r"`(autosearch [^`]+)`", line)
        elif line.startswith("autosearch "):
            found.append(" ".join(line.split()))
    return list(dict.fromkeys(found))


def substitute(command: str, run_id: str) -> str:
    for placeholder, value in PLACEHOLDERS:
        command = command.replace(placeholder, value.format(run=run_id))
    command = re.sub(r"\bBUNDLE\b(?!=)", f"artifacts/runs/{run_id}/export", command)  # not make's BUNDLE=
    return re.sub(r"\bRUN\b(?!=)", run_id, command)


def test_every_readme_command_is_run_or_skipped_for_a_stated_reason() -> None:
    commands = readme_commands(README.read_text(encoding="utf-8"))
    listed = [*RUN, *SKIP, *NOT_COMMANDS]
    assert len(listed) == len(set(listed)), "a command is listed twice"
    assert [c for c in commands if c not in listed] == [], "README commands to run here or skip with a reason"
    assert [c for c in listed if c not in commands] == [], "listed commands the README no longer has"


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """A folder to type the README's commands in: artifacts/ is a copy of the tiny run's home."""
    folder = tmp_path_factory.mktemp("reader")
    made = copy_home(tmp_path_factory, folder / "artifacts")
    for name in (".venv", "examples", "Makefile"):
        (folder / name).symlink_to(ROOT / name)
    (folder / "pyproject.toml").touch()  # make's install target depends on it: older than .venv/.installed,
    os.utime(folder / "pyproject.toml", (0, 0))  # so no README 'make' command here reinstalls anything
    (folder / "reviews.csv").write_text(  # the text column as trained ('text') and as renamed ('review')
        'text,review\n"A warm, funny film.","A warm, funny film."\nDull and forgettable.,Dull and forgettable.\n')
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}", "COLUMNS": "120",
           "PYTHONWARNINGS": "ignore", "AUTOSEARCH_CV_BELOW_ROWS": "0"}
    for key in ("AUTOSEARCH_HOME", "AUTOSEARCH_TRACKING_URI"):
        env.pop(key, None)
    return folder, made.run_id, env


@pytest.mark.parametrize("command", list(RUN), ids=list(RUN))
def test_a_readme_command_runs_as_written(reader, command: str) -> None:
    folder, run_id, env = reader
    code, words = RUN[command]
    res = subprocess.run(["bash", "-c", substitute(command, run_id)], cwd=folder, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == code and words in res.stdout + res.stderr, (res.stdout[-2000:], res.stderr[-2000:])
    if code == 0 and "leaderboard" in command and "--format" not in command and "--wide" not in command:
        assert all(len(line) <= 120 for line in res.stdout.splitlines()), res.stdout
    if "> trials.csv" in command:
        assert (folder / "trials.csv").read_text().startswith("rank,run_id,trial_id")


def _autosearch_args(command: str) -> list[str] | None:
    words = shlex.split(command)
    at = next((i for i, w in enumerate(words) if w == "autosearch" or w.endswith("/autosearch")), None)
    return None if at is None else words[at + 1:]


PARSED = [c for c in SKIP if c.startswith(("autosearch ", ".venv/bin/autosearch ", "PYTHONPATH=", "make "))
          and not c.startswith(("make install", "make test"))]


@pytest.mark.parametrize("command", PARSED, ids=PARSED)
def test_a_skipped_readme_command_still_parses(reader, command: str, capsys: pytest.CaptureFixture) -> None:
    folder, run_id, env = reader
    command = substitute(command, run_id)
    if command.startswith("make "):
        res = subprocess.run(["make", "-n", *shlex.split(command)[1:]], cwd=folder, env=env, capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        command = next(line for line in res.stdout.splitlines() if "autosearch" in line)
    args = _autosearch_args(command)
    assert args, command
    try:
        parsed = parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"'{command}' does not parse: {capsys.readouterr().err.strip()}")
    pipeline = getattr(parsed, "pipeline", None)
    if pipeline is not None:
        assert (is_bare_name(pipeline) and pipeline in shipped_names()) or (folder / pipeline).is_file(), \
            f"'{command}': --pipeline {pipeline} is neither a shipped pipeline nor a file"
