"""The chief admits only callers with its token (and speaks TLS when given a certificate): a wrong token is
refused in one line on both sides, a raw gRPC client gets nothing and stalls nobody, and the token is never
printed, logged or put on a command line. Real chiefs and workers on 127.0.0.1, tiny searches."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from conftest import ROOT
from test_distributed import PIPELINE, Proc, env, procs, search_rows  # noqa: F401 - procs is a fixture
from tlscerts import self_signed

from autosearch.errors import DistributedError
from autosearch.tracking import RunStatus, TrialState, get_tracker
from autosearch.tuning.chief_auth import PROBE, TOKEN_FILE, Link, probe, read_token_file

pytestmark = pytest.mark.search
TINY = [*PIPELINE[:3], "2", "--epochs", "1", "--max-rows", "300", "-q"]


def worker(address: str, run_id: str, home: Path, *extra: str, environ: dict | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autosearch", "worker", "--chief", address, "--run", run_id, "-q",
                           *extra], cwd=ROOT, env=environ or env(home), capture_output=True, text=True,
                          timeout=timeout)


def one_line(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2, res.stderr[-3000:]
    (line,) = res.stderr.strip().splitlines()
    return line


def test_a_token_file_others_can_read_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("x" * 40)
    path.chmod(0o644)
    with pytest.raises(DistributedError, match="chmod 600"):
        read_token_file(path)
    path.chmod(0o600)
    assert read_token_file(path) == "x" * 40
    path.write_text("short")
    with pytest.raises(DistributedError, match="shorter than 16"):
        read_token_file(path)


def test_the_chief_refuses_a_readable_token_file_before_anything_runs(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("s3cret-" * 6)
    path.chmod(0o640)
    res = subprocess.run([sys.executable, "-m", "autosearch", "chief", *TINY, "--token-file", str(path)], cwd=ROOT,
                         env=env(home), capture_output=True, text=True, timeout=120)
    assert "can be read by others" in one_line(res) and "s3cret" not in res.stderr + res.stdout
    assert not (home / "tracker.db").exists() or not get_tracker(f"sqlite:///{home / 'tracker.db'}").list_runs()


def _hostile_calls(address: str, n: int) -> list[grpc.StatusCode]:
    """``n`` calls without a token that never finish sending their request (a client stalling the server)."""
    codes: list[grpc.StatusCode] = []
    channel = grpc.insecure_channel(address)
    stall = channel.stream_unary(PROBE, request_serializer=bytes, response_deserializer=bytes)

    def never_ending():
        time.sleep(3600)
        yield b""

    def call() -> None:
        try:
            stall(never_ending(), timeout=60)
        except grpc.RpcError as exc:
            codes.append(exc.code())

    threads = [threading.Thread(target=call, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return codes


def test_only_callers_with_the_token_reach_the_oracle_and_the_token_is_never_shown(home: Path,
                                                                                     procs: list[Proc]) -> None:
    chief = Proc(["chief", *TINY], env(home))
    procs.append(chief)
    address, run_id = chief.join_line()
    uri = f"sqlite:///{home / 'tracker.db'}"
    token_file = home / "runs" / run_id / TOKEN_FILE
    token = read_token_file(token_file)  # generated, owner-only
    line = next(line for line in chief.out if "workers join with" in line)
    assert f"--token-file {token_file}" in line and any(f"copy it" in out and str(token_file) in out
                                                         for out in chief.out)

    probe(address, Link(token, "test"), timeout=300)  # the chief serves once its baselines are scored
    # a raw gRPC client without the token: refused, and never served
    raw = grpc.insecure_channel(address).unary_unary("/keras_tuner.Oracle/CreateTrial", request_serializer=bytes,
                                                     response_deserializer=bytes)
    with pytest.raises(grpc.RpcError) as refused:
        raw(b"", timeout=10)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    # more stalling clients than the server has threads: each refused at once, and a good caller is not delayed
    t0 = time.monotonic()
    assert _hostile_calls(address, 12) == [grpc.StatusCode.UNAUTHENTICATED] * 12
    probe(address, Link(token, "test"), timeout=10)
    took = time.monotonic() - t0
    assert took < 5, f"the good caller waited {took:.1f} s behind unauthenticated ones"

    wrong = {**env(home), "AUTOSEARCH_CHIEF_TOKEN": "wrong-token-" * 3}
    line = one_line(worker(address, run_id, home, "--worker-id", "intruder", environ=wrong))
    assert line.startswith("DistributedError: the chief at ") and "refused this worker's token" in line
    assert "wrong-token" not in line
    cert, _ = self_signed(home)
    line = one_line(worker(address, run_id, home, "--worker-id", "intruder", "--tls-ca", str(cert)))
    assert "failed the TLS handshake" in line, line  # a worker expecting TLS refuses a plain chief

    good = worker(address, run_id, home, "--worker-id", "w1", timeout=400)  # the run folder's token
    assert good.returncode == 0, good.stderr[-3000:]
    assert chief.wait(timeout=200) == 0, "".join(chief.err)[-3000:]
    rows = search_rows(uri, run_id)
    assert rows and {t.extra["worker"] for t in rows} == {"w1"}, "nothing of a refused caller was recorded"
    assert all(t.state is TrialState.COMPLETED for t in rows)
    err = "".join(chief.err)
    assert "refused a call from ipv4:127.0.0.1" in err and "intruder" not in "".join(chief.out)
    everything = "".join(chief.out + chief.err) + good.stdout + good.stderr
    assert token not in everything and token not in " ".join(chief.proc.args)


def test_a_chief_and_two_workers_complete_a_search_over_tls(home: Path, tmp_path: Path, procs: list[Proc]) -> None:
    cert, key = self_signed(tmp_path)
    token = tmp_path / "token"
    token.write_text("shared-secret-" * 3)
    token.chmod(0o600)
    chief = Proc(["chief", *TINY, "--tls-cert", str(cert), "--tls-key", str(key), "--token-file", str(token)],
                 env(home))
    procs.append(chief)
    address, run_id = chief.join_line()
    line = next(line for line in chief.out if "workers join with" in line)
    assert f"--token-file {token}" in line and f"--tls-ca {cert}" in line
    plain = one_line(worker(address, run_id, home, "--token-file", str(token)))
    assert "serves TLS; pass --tls-ca" in plain
    command = line[line.index("autosearch worker") :].split()[1:]  # as printed
    workers = [Proc([*command, "--worker-id", f"w{i}", "-q"], env(home)) for i in (1, 2)]
    procs.extend(workers)
    assert [w.wait(timeout=400) for w in workers] == [0, 0], "".join(workers[0].err + workers[1].err)[-3000:]
    assert chief.wait(timeout=200) == 0, "".join(chief.err)[-3000:]
    uri = f"sqlite:///{home / 'tracker.db'}"
    run = get_tracker(uri).get_run(run_id)
    rows = search_rows(uri, run_id)
    assert run.status is RunStatus.COMPLETED and run.summary["distributed"]["tls"] is True
    assert sorted(t.keras_trial_id for t in rows) == ["0", "1"] and all(t.state is TrialState.COMPLETED for t in rows)
    assert not (home / "runs" / run_id / TOKEN_FILE).exists(), "a given token is not copied into the run folder"
    assert "shared-secret" not in "".join(chief.out + chief.err + workers[0].err + workers[1].err)
    assert os.stat(token).st_mode & 0o777 == 0o600
