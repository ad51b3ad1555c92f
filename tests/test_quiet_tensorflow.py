"""No TensorFlow, absl or gRPC start-up chatter on any command's output, its numerics untouched, the user's own
log settings kept, and the warnings that matter shown once."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

# absl's "before absl::InitializeLog()" line and Keras' "WARNING:absl:" ones, TensorFlow's start-up INFO lines,
# gRPC's fork line, and any glog-style C++ log line ("I0000 00:00:17... 123 file.cc:45] ...")
CHATTER = re.compile(r"absl|oneDNN|cpu_feature_guard|fork_posix|^[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\]", re.M)
SETTINGS = ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY", "TF_ENABLE_ONEDNN_OPTS")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a new user's shell: none of the log settings this test process inherited from its
    own ``import autosearch`` (the package sets them in os.environ, which children inherit)."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS and k != "PYTHONWARNINGS"}
    return {**env, "AUTOSEARCH_HOME": str(home), "AUTOSEARCH_CV_BELOW_ROWS": "0", **extra}


def run(home: Path, *args: str) -> str:
    """``python -m autosearch ARGS`` in a clean environment; its stdout and stderr, which must show no chatter."""
    proc = subprocess.run([sys.executable, "-m", "autosearch", *args], cwd=ROOT, env=clean_env(home),
                          capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    chatter = [m.group(0) for m in CHATTER.finditer(output)]
    assert not chatter, f"'autosearch {args[0]}' printed start-up chatter: {chatter}\n{output[-3000:]}"
    return output


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(home, run id) of a tiny structured search run through the CLI (itself checked for chatter)."""
    home = tmp_path_factory.mktemp("quiet") / "home"
    run(home, "search", "--pipeline", "structured", "--max-rows", "200", "--max-trials", "1", "--epochs", "1",
        "--ensemble", "off", "-q")
    (run_id,) = [p.name for p in (home / "runs").iterdir()]
    return home, run_id


def test_search_predict_export_and_reproduce_print_no_start_up_chatter(searched: tuple[Path, str],
                                                                        tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    home, run_id = searched
    inputs = tmp_path / "inputs.csv"
    load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(20).to_csv(inputs, index=False)
    assert "20 predictions written" in run(home, "predict", str(home / "runs" / run_id / "export"), "--input",
                                           str(inputs), "--output", str(tmp_path / "out.csv"))
    # H5 on purpose: Keras logs "WARNING:absl:You are saving your model as an HDF5 file"
    assert "written to" in run(home, "export", run_id, "--h5", "--out", str(tmp_path / "bundle"))
    assert "HOLDS" in run(home, "reproduce", f"{run_id}/0")


GRPC_FORK = """
import autosearch, os, grpc
from concurrent import futures
server = grpc.server(futures.ThreadPoolExecutor(2))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
grpc.channel_ready_future(grpc.insecure_channel(f"127.0.0.1:{port}")).result(timeout=30)
pid = os.fork()  # gRPC logs its fork handlers through absl (KerasTuner's chief serves the oracle over gRPC)
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
server.stop(0)
print(os.environ.get("TF_CPP_MIN_LOG_LEVEL"), os.environ.get("GRPC_VERBOSITY"), "TF_ENABLE_ONEDNN_OPTS" in os.environ)
"""


def test_importing_autosearch_quiets_grpc_and_tensorflow_but_leaves_onednn_on(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", GRPC_FORK], cwd=ROOT, env=clean_env(tmp_path), capture_output=True,
                          text=True, timeout=300)
    assert not CHATTER.search(proc.stdout + proc.stderr), proc.stderr
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["1", "ERROR", "False"], "INFO logs off, warnings kept; oneDNN (numerics) untouched"


def test_a_log_setting_the_user_made_is_kept(tmp_path: Path) -> None:
    env = clean_env(tmp_path, TF_CPP_MIN_LOG_LEVEL="0", GRPC_VERBOSITY="DEBUG")
    proc = subprocess.run([sys.executable, "-c", "import autosearch, os; print(os.environ['TF_CPP_MIN_LOG_LEVEL'], "
                           "os.environ['GRPC_VERBOSITY'])"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.split() == ["0", "DEBUG"], proc.stderr


def test_keras_warnings_show_once_and_the_harmless_ones_not_at_all(caplog: pytest.LogCaptureFixture) -> None:
    from absl import logging as absl_logging

    from autosearch.quiet import quiet_python_logs

    quiet_python_logs()
    quiet_python_logs()  # a second call adds no second filter
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            absl_logging.warning("Error in loading the saved optimizer state.")
        absl_logging.warning("You are saving your model as an HDF5 file via `model.save()`.")
    assert [r.getMessage() for r in caplog.records] == ["Error in loading the saved optimizer state."]
