"""Read a user's CSV (or TSV) file, or say in one line why it cannot be read.

gzip, bzip2 and xz files are decompressed. UTF-8 (with or without a
byte-order mark) is read as is, UTF-16 with a byte-order mark too (Excel's
"Unicode text"); anything else is refused with the first undecodable byte and
its line unless ``data.encoding`` names the encoding. The delimiter is detected among comma, tab, semicolon and pipe
unless ``data.delimiter`` sets it.
"""

from __future__ import annotations

import codecs
import csv
import importlib
import io
import warnings
from itertools import islice
from pathlib import Path

import pandas as pd

from autosearch.errors import DataError

DELIMITERS = (",", "\t", ";", "|")
_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_SAMPLE_BYTES = 64 * 1024
_SAMPLE_ROWS = 50
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "lzma"}


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


def delimiter_name(delimiter: str) -> str:
    return _NAMES.get(delimiter, repr(delimiter))


def decode(path: Path, data: bytes, encoding: str | None) -> tuple[str, str]:
    """(the file's text, the encoding read); ``DataError`` naming the first bad byte, its line and the fix."""
    if encoding is None and data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        encoding = "utf-16"  # a BOM says which UTF-16
    if encoding is None and b"\x00" in data[:_SAMPLE_BYTES]:
        kind = "a zip archive (an .xlsx workbook?)" if data[:2] == b"PK" else "a binary file"
        offset = data.index(b"\x00")
        raise DataError(f"{path}: not a text CSV file: it holds NUL bytes (first at offset {offset}), "
                        f"it looks like {kind}; export the table as CSV (UTF-8) and pass that file.")
    try:
        name = "utf-8-sig" if codecs.lookup(encoding or "utf-8").name == "utf-8" else encoding
    except LookupError:
        raise DataError(f"{path}: data.encoding = {encoding!r} is not an encoding Python knows; "
                        "use e.g. 'utf-8', 'latin-1' or 'cp1252'.") from None
    try:
        return data.decode(name), encoding or "utf-8"
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        where = f"byte 0x{data[exc.start]:02x} on line {line} (file offset {exc.start})"
        if encoding is None:
            raise DataError(f"{path}: not UTF-8 text: {where} is not valid UTF-8; if the file is Latin-1 or "
                            "Windows-1252, set data.encoding = \"latin-1\" (or \"cp1252\") in the pipeline's "
                            f"[data] table, or convert it: iconv -f latin1 -t utf-8 '{path}' > utf8.csv.") from None
        raise DataError(f"{path}: not {encoding} text: {where} cannot be decoded as {encoding}; set "
                        "data.encoding to the file's encoding or convert it to UTF-8 with iconv.") from None


def _rows(sample: str, delimiter: str) -> list[list[str]]:
    try:
        return [r for r in islice(csv.reader(io.StringIO(sample), delimiter=delimiter), _SAMPLE_ROWS) if r]
    except csv.Error:
        return []


def detect_delimiter(text: str) -> str:
    """Comma, tab, semicolon or pipe: the one that splits the header into the most columns that most
    sampled rows agree with (comma when none splits it)."""
    end = text.rfind("\n", 0, _SAMPLE_BYTES)
    sample = text if len(text) <= _SAMPLE_BYTES or end < 0 else text[:end]
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        rows = _rows(sample, delimiter)
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        agree = sum(len(r) == width for r in rows) / len(rows)
        if (agree, width) > best_score:
            best, best_score = delimiter, (agree, width)
    return best


def _check_delimiter(path: Path, delimiter: str) -> str:
    if delimiter.lower() in ("tab", "\\t"):
        return "\t"
    if len(delimiter) != 1 or delimiter in "\"\r\n":
        raise DataError(f"{path}: data.delimiter = {delimiter!r} must be one character, e.g. ',', ';', '|' "
                        "or \"\\t\" (tab).")
    return delimiter


def _check_header(path: Path, header: list[str], delimiter: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        key = name.strip()
        if key and key in seen:
            raise DataError(f"{path}: the header names column '{key}' twice (columns {seen[key]} and {i}); "
                            "give every column its own name.")
        seen[key] = i


def _decompress(path: Path, data: bytes) -> bytes:
    """gzip, bzip2 and xz files are read through (``data.csv.gz``)."""
    for magic, module in _COMPRESSED.items():
        if data.startswith(magic):
            try:
                return importlib.import_module(module).decompress(data)
            except (OSError, EOFError, ValueError) as exc:
                raise DataError(f"{path}: a damaged {module} file ({one_line(exc)}); compress it again "
                                "or give the plain CSV.") from None
    return data


def read_csv_file(path: Path, encoding: str | None = None, delimiter: str | None = None) -> pd.DataFrame:
    """The file as a DataFrame with at least one data row; ``DataError`` (one line) otherwise."""
    try:
        data = _decompress(path, path.read_bytes())
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({one_line(exc.strerror or exc)}); check its permissions.") from None
    if not data.strip():
        raise DataError(f"{path}: the file is empty; give a CSV file with a header row and data rows.")
    text, read_as = decode(path, data, encoding)
    if not text.strip():
        raise DataError(f"{path}: the file is empty; give a CSV file with a header row and data rows.")
    sep = _check_delimiter(path, delimiter) if delimiter is not None else detect_delimiter(text)
    how = "set by data.delimiter" if delimiter is not None else "detected; set data.delimiter to override"
    header = _rows(text[: text.find("\n") + 1 or len(text)], sep)
    _check_header(path, header[0] if header else [], sep)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), sep=sep, index_col=False)
    except pd.errors.ParserWarning:
        width = len(header[0]) if header else 0
        line = next((i for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=sep), start=1)
                     if len(row) > width), "?")
        raise DataError(f"{path}: line {line} has more fields than the header's {width} columns "
                        f"(delimiter: {delimiter_name(sep)}, {how}); name every column in the header or "
                        "remove the extra delimiters.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as CSV ({one_line(exc)}); check the quoting and the number "
                        f"of fields on that line (delimiter: {delimiter_name(sep)}, {how}).") from None
    frame.attrs.update(delimiter=sep, encoding=read_as)
    if frame.empty:
        raise DataError(f"{path}: has a header ({', '.join(map(str, frame.columns))}) but no data rows; "
                        "give a CSV file with data rows under its header.")
    return frame


def delimiter_hint(frame: pd.DataFrame) -> str:
    """A hint when a one-column frame's name holds another delimiter (the detection was overridden)."""
    if frame.shape[1] == 1:
        name = str(frame.columns[0])
        found = [d for d in DELIMITERS if d in name]
        if found:
            return (f" The file was read as one column: is it {delimiter_name(found[0])}-separated? "
                    f"Set data.delimiter = {found[0]!r}.")
    return ""
