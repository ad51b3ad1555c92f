"""The HTML report's page shell: inline CSS and JavaScript, escaping, readable labels and table building.

Cells carry the raw value in ``data-value`` (for sorting) and show it formatted (``views.formats``); a table
scrolls inside its own box, so the page never overflows sideways.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from autosearch.views import formats

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:16px auto;padding:0 16px;color:#222;max-width:1240px}
h1{font-size:22px;overflow-wrap:anywhere}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.scroll{overflow-x:auto;max-width:100%;border:1px solid #eee}
table{border-collapse:collapse;font-size:12px}th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}td.num{white-space:nowrap}
th{cursor:pointer;background:#f6f6f6;user-select:none;vertical-align:bottom;min-width:3.5em}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
td.nowrap{white-space:nowrap}td.id{white-space:nowrap;font-family:ui-monospace,monospace}
tr.baseline td{color:#555;font-style:italic}tr.failed td{color:#a00}
tr.best td{background:#fff4c2;font-weight:600}
table.meta{font-size:13px;max-width:100%}.meta th{cursor:default;background:none;text-align:left;vertical-align:top;
 position:static;white-space:nowrap}.meta td{overflow-wrap:anywhere;white-space:pre-line}
.verdict{padding:10px 14px;border-radius:6px;font-size:15px;margin:12px 0}
.verdict.won{background:#e3f4e1;border:1px solid #7cbf73}.verdict.lost{background:#fde8e4;border:1px solid #e0877a}
.verdict.open{background:#f1f1f1;border:1px solid #ccc}
.charts{display:flex;flex-wrap:wrap;gap:16px}.charts>*{max-width:100%}
svg.chart{max-width:100%;height:auto}
.filters{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}.filters input,.filters select{padding:4px;max-width:100%}
.legend{font-size:11px;max-width:640px}.legend span{margin-right:10px;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:10px;margin-right:3px}
.note{color:#555;font-size:12px}
"""

JS = """
function sortTable(th){
  const table=th.closest('table'), body=table.tBodies[0], idx=[...th.parentNode.children].indexOf(th);
  const asc=!th.classList.contains('sorted-asc');
  table.querySelectorAll('th').forEach(h=>h.classList.remove('sorted-asc','sorted-desc'));
  th.classList.add(asc?'sorted-asc':'sorted-desc');
  const key=r=>{const c=r.children[idx], v=c.dataset.value??c.textContent; const n=parseFloat(v);
    return (v!==''&&!isNaN(n)&&isFinite(v))?n:v.toLowerCase();};
  const rows=[...body.rows].sort((a,b)=>{const x=key(a),y=key(b);
    if(typeof x!==typeof y) return typeof x==='number'?-1:1; return (x<y?-1:x>y?1:0)*(asc?1:-1);});
  rows.forEach(r=>body.appendChild(r));
}
function applyFilters(){
  const get=id=>{const e=document.getElementById(id); return e?e.value:'';};
  const q=get('filter').toLowerCase(), p=get('f-pipeline'), d=get('f-dataset'), t=get('f-tag');
  const keep=e=>(!p||e.dataset.pipeline===p)&&(!d||e.dataset.dataset===d)
    &&(!t||(e.dataset.tags||'').split('|').includes(t));
  document.querySelectorAll('table.filtered tbody tr').forEach(r=>{
    r.style.display=(keep(r)&&(!q||r.textContent.toLowerCase().includes(q)))?'':'none';});
  document.querySelectorAll('svg .run-dot').forEach(c=>{c.style.display=keep(c)?'':'none';});
}
document.addEventListener('DOMContentLoaded',()=>{
  document.querySelectorAll('table.sortable th').forEach(th=>th.addEventListener('click',()=>sortTable(th)));
  ['filter','f-pipeline','f-dataset','f-tag'].forEach(id=>{const e=document.getElementById(id);
    if(e){e.addEventListener('input',applyFilters);e.addEventListener('change',applyFilters);}});
  applyFilters();
});
"""

LONG_DECIMAL = re.compile(r"-?\d+\.\d{5,}(?:e[-+]?\d+)?")
WORDS = {"val": "validation", "mae": "MAE", "mse": "MSE", "auc": "AUC", "rmse": "RMSE", "lr": "learning rate"}


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def tidy(text: Any) -> str:
    """Free text (an error, a baseline's name) with long decimals cut to 4 significant digits."""
    return LONG_DECIMAL.sub(lambda m: formats.value(float(m.group())), "" if text is None else str(text))


def label(name: str) -> str:
    """A readable label for a metric or column name: ``val_mean_absolute_error`` -> "validation mean absolute
    error", ``table_block/dropout`` -> "dropout"."""
    words = name.split("/")[-1].replace("-", "_").split("_")
    return " ".join(WORDS.get(w, w) for w in words if w)


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{e(title)}</title>'
            f'<style>{CSS}</style><script>{JS}</script></head><body>{body}</body></html>')


@dataclass(frozen=True)
class Column:
    """A table column: header, the row key it reads, how it shows a value, and whether it is a number."""

    header: str
    key: str
    show: Callable[[Any], str] = formats.value
    numeric: bool = True
    css: str = ""
    sort: str | None = None  # the row key whose raw value sorts the column (default: ``key``)
    markup: bool = False  # ``show`` returns HTML (a link), not text to escape


def _raw(value: Any) -> str:
    if formats.is_missing(value):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def cell(column: Column, row: dict[str, Any]) -> str:
    cls = " ".join(c for c in ("num" if column.numeric else "", column.css) if c)
    cls_attr = f' class="{cls}"' if cls else ""
    shown = column.show(row.get(column.key))
    raw = row.get(column.sort or column.key)
    return f'<td{cls_attr} data-value="{e(_raw(raw))}">{shown if column.markup else e(shown)}</td>'


def table(columns: Sequence[Column], rows: Sequence[dict[str, Any]], table_id: str = "",
          row_attrs: Callable[[dict[str, Any]], str] = lambda r: "", extra_class: str = "") -> str:
    """A sortable table in a box that scrolls sideways when it is wider than the page."""
    head = "".join(f'<th{" class=num" if c.numeric else ""}>{e(c.header)}</th>' for c in columns)
    body = "".join(f'<tr {row_attrs(r)}>{"".join(cell(c, r) for c in columns)}</tr>' for r in rows)
    id_attr = f' id="{table_id}"' if table_id else ""
    return (f'<div class="scroll"><table{id_attr} class="sortable {extra_class}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table></div>')


def text(value: Any) -> str:
    """A text cell's value as a person reads it: missing is "-", long decimals cut."""
    return formats.MISSING if formats.is_missing(value) or value == "" else tidy(value)


def meta_table(rows: Sequence[tuple[str, Any]]) -> str:
    """Label/value rows; values are shown as given (already formatted) with long decimals cut."""
    body = "".join(f"<tr><th>{e(k)}</th><td>{e(text(v))}</td></tr>" for k, v in rows)
    return f'<table class="meta">{body}</table>'
