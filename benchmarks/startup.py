"""4. Start-up: ``autosearch --help``, ``runs`` and ``leaderboard`` against ``python -c pass``, interleaved,
on a home with real runs; and, with ``-X importtime``, proof that none of them imports TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.common import (
    PYTHON,
    Section,
    bench_env,
    figure,
    interleave,
    ratios,
    run_child,
)
from benchmarks.tracker import autosearch_command

COMMANDS = {"--help": ["--help"], "runs": ["runs"], "leaderboard": ["leaderboard"]}
HEAVY = ("tensorflow", "keras", "autokeras", "keras_tuner", "clearml", "sklearn")


def imports(args: list[str], env: dict[str, str]) -> tuple[dict[str, float], set[str]]:
    """(top-level imports -> cumulative seconds, every package imported at any depth), from -X importtime."""
    child = run_child(args, {**env, "PYTHONPROFILEIMPORTTIME": "1"}).check()
    top: dict[str, float] = {}
    packages: set[str] = set()
    for line in child.err.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        if not cumulative.strip().isdigit():
            continue  # the header line
        package = name.strip().split(".")[0]
        packages.add(package)
        if len(name) - len(name.lstrip()) == 1:  # depth 0: one space after the bar
            top[name.strip()] = top.get(name.strip(), 0.0) + int(cumulative) / 1e6
    return top, packages


def run(home: Path, rounds: int) -> Section:
    section = Section("startup")
    env = bench_env(home)
    cmd = autosearch_command()
    variants = {"python -c pass": lambda r: run_child([PYTHON, "-c", "pass"], env).check()}
    for name, args in COMMANDS.items():
        variants[name] = lambda r, args=args: run_child([*cmd, *args], env).check()
    run_child([*cmd, "runs"], env)  # warm the page cache
    res = interleave(variants, rounds)
    base_wall = [c.wall for c in res["python -c pass"]]
    section.add(figure("startup", "python -c pass (yardstick)", base_wall, "s"))
    for name, args in COMMANDS.items():
        wall, cpu = [c.wall for c in res[name]], [c.cpu for c in res[name]]
        found, packages = imports([*cmd, *args], env)
        heavy = sorted(packages & set(HEAVY))
        top = sorted(found.items(), key=lambda kv: -kv[1])[:3]
        section.raw[f"imports {name}"] = {"top_level_s": found, "heavy": heavy}
        section.add(
            figure("startup", f"`autosearch {name}` wall", wall, "s", "< 0.3",
                   f"CPU {sorted(cpu)[len(cpu) // 2]:.3f}s; heaviest imports: "
                   + ", ".join(f"{m} {t:.2f}s" for m, t in top)),
            figure("startup", f"`autosearch {name}` / python -c pass", ratios(wall, base_wall), "x"),
            figure("startup", f"`autosearch {name}` imports TensorFlow/Keras/AutoKeras/ClearML/sklearn",
                   float(len(heavy)), "", "<= 0", ", ".join(heavy) or "none (-X importtime)"),
        )
    section.raw["load_average"] = os.getloadavg()
    return section
