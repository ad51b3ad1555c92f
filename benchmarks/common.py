"""What every measurement shares: paths, child processes with their wall and CPU time, statistics,
figures with targets, and the machine they ran on. No TensorFlow here."""

from __future__ import annotations

import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PIPELINES = ROOT / "autosearch" / "pipelines"
PYTHON = sys.executable


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- statistics ----------------------------------------------------------------------------------------------
def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (q in [0, 1]) of a non-empty sequence."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def stats(values: Sequence[float]) -> dict[str, float]:
    """median, min, max, n (and the raw values) of a sample."""
    xs = [float(v) for v in values]
    return {"median": statistics.median(xs) if xs else math.nan, "min": min(xs, default=math.nan),
            "max": max(xs, default=math.nan), "n": len(xs), "values": xs}


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Pairwise ratios of two samples measured side by side (pair i with pair i)."""
    return [a / b for a, b in zip(numerators, denominators) if b]


# -- figures -------------------------------------------------------------------------------------------------
@dataclass
class Figure:
    """One line of the results table: a value (usually a median), its spread, and the target it answers."""

    section: str
    name: str
    value: float | None
    unit: str = ""
    lo: float | None = None  # spread: min of the sample (or p50 for latencies, see note)
    hi: float | None = None
    n: int | None = None
    target: str = ""  # e.g. "<= 1.03"
    ok: bool | None = None  # None: no target, or not measurable here
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(value: float | None, target: str) -> bool | None:
    """Whether ``value`` meets ``target`` ("<= 1.03", "< 0.3", ">= 0.2", "> 1"); None without one."""
    if not target or value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    op, _, threshold = target.partition(" ")
    limit = float(threshold)
    return {"<=": value <= limit, "<": value < limit, ">=": value >= limit, ">": value > limit}[op]


def figure(section: str, name: str, sample: Sequence[float] | float | None, unit: str = "", target: str = "",
           note: str = "") -> Figure:
    """A figure from a sample (median and min-max) or a single value, checked against ``target``."""
    if sample is None:
        return Figure(section, name, None, unit, target=target, note=note)
    if isinstance(sample, (int, float)):
        return Figure(section, name, float(sample), unit, n=1, target=target, ok=check(float(sample), target),
                      note=note)
    s = stats(sample)
    return Figure(section, name, s["median"], unit, s["min"], s["max"], s["n"], target, check(s["median"], target),
                  note)


@dataclass
class Section:
    """What one measurement returns: its figures and everything raw behind them."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)


# -- child processes -----------------------------------------------------------------------------------------
@dataclass
class Child:
    """A finished child process: its wall time, its own CPU time (user + system), output and exit code."""

    args: list[str]
    wall: float
    cpu: float
    code: int
    out: str
    err: str

    def check(self) -> Child:
        if self.code != 0:
            tail = "\n".join((self.err or self.out).strip().splitlines()[-15:])
            raise RuntimeError(f"{' '.join(self.args)} exited {self.code}:\n{tail}")
        return self


def bench_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment every child gets: its own AUTOSEARCH_HOME, TensorFlow's C++ logs off, no warnings."""
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOSEARCH_TRACKING_URI",)}
    # PYTHONPATH: children import autosearch from this checkout (ahead of an editable install elsewhere)
    env.update(PYTHONWARNINGS="ignore", TF_CPP_MIN_LOG_LEVEL="2", PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(ROOT))
    if home is not None:
        env["AUTOSEARCH_HOME"] = str(home)
    env.update(extra)
    return env


def run_child(args: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path = ROOT,
              timeout: float = 3600) -> Child:
    """Run a command to its end; wall time from spawn to exit, CPU time from the children's rusage delta."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(list(args), check=False, cwd=cwd, env=dict(env) if env is not None else None, capture_output=True,
                          text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Child(list(args), wall, cpu, proc.returncode, proc.stdout, proc.stderr)


def interleave(variants: Mapping[str, Callable[[int], Any]], rounds: int) -> dict[str, list[Any]]:
    """Run each variant once per round, A B C then C B A then A B C ...: side by side, so slow drift of
    the machine's load lands on every variant alike. Returns each variant's results in round order."""
    names = list(variants)
    out: dict[str, list[Any]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            out[name].append(variants[name](r))
    return out


def du(path: Path) -> int:
    """Bytes in the files under ``path`` (or of the file)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


# -- the machine ---------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """Cores, RAM, CPU model, load, and the versions that matter, read without importing TensorFlow."""
    import sqlite3
    from importlib import metadata

    cpu_model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        ram = None
    versions: dict[str, str | None] = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for name in ("tensorflow-cpu", "keras", "autokeras", "keras-tuner", "clearml", "pandas", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, cwd=ROOT, capture_output=True,
                            text=True)  # outside a clone (a `git archive` copy): BENCH_GIT_COMMIT names it
    return {"cores": os.cpu_count(), "ram_gb": round(ram / 2**30, 1) if ram else None, "cpu_model": cpu_model,
            "platform": platform.platform(), "load_average": os.getloadavg(), "nice": os.nice(0),
            "versions": versions, "git_commit": commit.stdout.strip() or os.environ.get("BENCH_GIT_COMMIT")}


def fmt_num(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "x":
        return f"{value:.3f}"
    if unit in ("s",):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    if unit == "ms":
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if unit in ("/s", "rows/s", "trials/s"):
        return f"{value:,.0f}"
    if unit == "MB":
        return f"{value:.1f}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def iter_pipelines() -> Iterable[Path]:
    return sorted(PIPELINES.glob("*.toml"))


@contextmanager
def postgres(database: str) -> Iterator[str | None]:
    """A ``postgresql://`` tracker URI: ``AUTOSEARCH_BENCH_PG``, else a database on a throwaway server of the
    tests' own (tests/pgserver.py: Debian's PostgreSQL as an unprivileged user on a loopback port), stopped
    after; None when PostgreSQL is not installed."""
    if os.environ.get("AUTOSEARCH_BENCH_PG"):
        yield os.environ["AUTOSEARCH_BENCH_PG"]
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from pgserver import PostgresServer, find_bin_dir

    if find_bin_dir() is None:
        yield None
        return
    server = PostgresServer().__enter__()
    try:
        yield server.create_database(database)
    finally:
        server.stop()
