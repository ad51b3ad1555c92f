"""6. Results that last: artifacts/bench/<date>.json (every sample) and <date>.md (the table, the machine,
the command that reproduces it)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Section, fmt_num

TITLES = {
    "overhead": "1. Tracking overhead (ratio to bare AutoKeras, same trials, interleaved rounds)",
    "tracker": "2. Tracker against its limit",
    "serving": "3. Serving against the bare model",
    "startup": "4. Start-up (no TensorFlow import)",
    "quality": "5. Quality and cost per shipped pipeline (default budget)",
    "quality_seeds": "5b. The text pipeline over split seeds 0, 1, 2 against the tuned TF-IDF + logistic regression",
}


def _cell(f: Figure) -> tuple[str, str, str, str, str]:
    value = fmt_num(f.value, f.unit) + (f" {f.unit}" if f.unit and f.unit != "x" and f.value is not None else "")
    spread = "" if f.lo is None or f.n in (None, 1) else f"{fmt_num(f.lo, f.unit)}–{fmt_num(f.hi, f.unit)}"
    met = {True: "yes", False: "**no**", None: ""}[f.ok]
    return value, spread, "" if f.n is None else str(f.n), f.target, met


def table(figures: Sequence[Figure]) -> str:
    lines = ["| measure | median | min–max | n | target | met | note |", "|---|---|---|---|---|---|---|"]
    for f in figures:
        value, spread, n, target, met = _cell(f)
        note = f.note.replace("|", "/")
        lines.append(f"| {f.name} | {value} | {spread} | {n} | {target} | {met} | {note} |")
    return "\n".join(lines)


def machine_line(m: dict[str, Any]) -> str:
    v = m["versions"]
    load = ", ".join(f"{x:.1f}" for x in m["load_average"])
    return (f"{m['cores']} cores, {m['ram_gb']} GB RAM, {m['cpu_model']}, {m['platform']}; load average at start "
            f"{load}; nice {m['nice']}. Python {v['python']}, SQLite {v['sqlite']}, TensorFlow {v['tensorflow-cpu']}, "
            f"Keras {v['keras']}, AutoKeras {v['autokeras']}, KerasTuner {v['keras-tuner']}, ClearML {v['clearml']}, "
            f"pandas {v['pandas']}; git {m['git_commit']}.")


def markdown(date: str, sections: Sequence[Section], meta: dict[str, Any]) -> str:
    figs = [f for s in sections for f in s.figures]
    missed = [f for f in figs if f.ok is False]
    out = [f"# autosearch benchmarks, {date}{' (quick)' if meta['quick'] else ''}", "",
           f"Machine: {machine_line(meta['machine'])}", "",
           (f"Reproduce: `{meta['command']}` ({meta['minutes']:.1f} min; load average at the end "
            f"{', '.join(f'{x:.1f}' for x in meta['load_average_end'])}). Ratios are taken within a round of "
            "side-by-side runs (A B, B A, ...); the table gives their median and min–max."), "",
           f"Targets: {sum(f.ok is True for f in figs)} met, {len(missed)} missed"
           + (": " + "; ".join(f.name for f in missed) if missed else "") + "."]
    for s in sections:
        out += ["", f"## {TITLES.get(s.name, s.name)}", ""]
        if s.name == "overhead" and meta.get("overhead_budget"):
            budget = meta["overhead_budget"]
            spelled = ", ".join(f"{k}={v}" for k, v in budget.items()) if isinstance(budget, dict) else budget
            out += [f"The text pipeline ({spelled}), {meta['rounds']} rounds.", ""]
        out += [table(s.figures)]
        phases = {k: v for k, v in s.raw.items() if k.endswith("_phases_s")}
        for key, phases_s in phases.items():
            out += ["", f"Whole command, {key.split('_')[0]}: median seconds per phase: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in phases_s.items() if v)]
        if s.raw.get("profile"):
            out += ["", "cProfile of one SQLite search (autosearch, callbacks, tracker entries):", "", "```",
                    *s.raw["profile"][:25], "```"]
    return "\n".join(out) + "\n"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write(out_dir: Path, date: str, sections: Sequence[Section], meta: dict[str, Any]) -> tuple[Path, Path, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = date + ("-quick" if meta["quick"] else "")
    md = markdown(date, sections, meta)
    data = {"date": date, **meta, "figures": [f.to_dict() for s in sections for f in s.figures],
            "sections": {s.name: {"seconds": s.seconds, "raw": s.raw} for s in sections}}
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(_clean(data), indent=1, default=str))
    md_path.write_text(md)
    return json_path, md_path, md
