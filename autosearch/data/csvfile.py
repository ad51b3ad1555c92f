"""Read a user's CSV (or TSV) file, or say in one line why it cannot be read.

The one CSV reader: training reads a file whole (``read_csv_file``), predict in chunks of rows
(``iter_csv_file``), through the same checks. The file is read, unpacked and decoded a block at a time,
so memory stays bounded; only regular files are opened (a FIFO, a socket or a device is refused before).
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
import lzma
import warnings
import zlib
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd

from autosearch.errors import DataError
from autosearch.fileio import special_kind

DELIMITERS = (",", "\t", ";", "|")
_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_SAMPLE_BYTES = 64 * 1024
_SAMPLE_ROWS = 50
_BLOCK = 64 * 1024  # bytes read at a time
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "lzma"}


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


def delimiter_name(delimiter: str) -> str:
    return _NAMES.get(delimiter, repr(delimiter))


def _encoding(path: Path, head: bytes, encoding: str | None) -> tuple[str, str, int]:
    """(the encoding read, its codec's name, how many BOM bytes to skip) for a file that starts with ``head``;
    ``DataError`` for a binary file or an encoding Python does not know."""
    if encoding is None and head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        encoding = "utf-16"  # a BOM says which UTF-16
    if encoding is None and b"\x00" in head:
        kind = "a zip archive (an .xlsx workbook?)" if head[:2] == b"PK" else "a binary file"
        offset = head.index(b"\x00")
        raise DataError(f"{path}: not a text CSV file: it holds NUL bytes (first at offset {offset}), "
                        f"it looks like {kind}; export the table as CSV (UTF-8) and pass that file.")
    try:
        name = codecs.lookup(encoding or "utf-8").name
    except LookupError:
        raise DataError(f"{path}: data.encoding = {encoding!r} is not an encoding Python knows; "
                        "use e.g. 'utf-8', 'latin-1' or 'cp1252'.") from None
    return encoding or "utf-8", name, 3 if name == "utf-8" and head.startswith(codecs.BOM_UTF8) else 0


def _undecodable(path: Path, exc: UnicodeDecodeError, block: bytes, before: int, lines: int,
                 encoding: str | None) -> DataError:
    """The first bad byte of ``block`` (read after ``before`` bytes holding ``lines`` newlines), its line,
    offset and the fix. ``exc.object`` is ``block`` behind the few bytes the decoder held from the block
    before."""
    at = exc.start - (len(exc.object) - len(block))  # < 0: in the bytes held from the block before
    line = lines + block[: max(at, 0)].count(b"\n") + 1
    where = f"byte 0x{exc.object[exc.start]:02x} on line {line} (file offset {before + at})"
    if encoding is None:
        return DataError(f"{path}: not UTF-8 text: {where} is not valid UTF-8; if the file is Latin-1 or "
                         "Windows-1252, set data.encoding = \"latin-1\" (or \"cp1252\") in the pipeline's "
                         f"[data] table, or convert it: iconv -f latin1 -t utf-8 '{path}' > utf8.csv.")
    return DataError(f"{path}: not {encoding} text: {where} cannot be decoded as {encoding}; set "
                     "data.encoding to the file's encoding or convert it to UTF-8 with iconv.")


class _Text(io.TextIOBase):
    """A file's text, read, unpacked and decoded a block at a time: memory stays bounded whatever the
    file's size. Only a regular file is opened (a FIFO without a writer would wait forever, /dev/zero never
    end); an undecodable byte is named with its line, a damaged compressed file in one line."""

    def __init__(self, path: Path, encoding: str | None):
        super().__init__()
        kind = special_kind(path)
        if kind is not None:
            raise DataError(f"{path}: not a regular file but {kind}, which could be read forever or wait for "
                            "a writer forever; give a CSV file.")
        try:
            self._file = path.open("rb")
            head = self._file.read(6)
            self._file.seek(0)
        except OSError as exc:
            raise DataError(f"{path}: cannot be read ({one_line(exc.strerror or exc)}); check its permissions.") \
                from None
        self.path, self._named = path, encoding
        self._packed = next((module for magic, module in _COMPRESSED.items() if head.startswith(magic)), None)
        self._raw = importlib.import_module(self._packed).open(self._file) if self._packed else self._file
        first = self._block()
        self.encoding_read, name, skip = _encoding(path, first, encoding)
        self._decoder = codecs.getincrementaldecoder(name)()
        self._before, self._lines, self._text, self._pos, self._eof = skip, 0, "", 0, not first
        self._feed(first[skip:])

    def _block(self) -> bytes:
        try:
            return self._raw.read(_BLOCK)
        except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as exc:
            if self._packed is None:
                raise DataError(f"{self.path}: cannot be read ({one_line(exc)}); check the file.") from None
            raise DataError(f"{self.path}: a damaged {self._packed} file ({one_line(exc)}); compress it again "
                            "or give the plain CSV.") from None

    def _feed(self, block: bytes) -> None:
        try:
            text = self._decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            raise _undecodable(self.path, exc, block, self._before, self._lines, self._named) from None
        self._before, self._lines = self._before + len(block), self._lines + block.count(b"\n")
        self._text, self._pos = self._text[self._pos :] + text, 0

    def _more(self) -> bool:
        """Decode one more block; False at the end of the file."""
        if self._eof:
            return False
        block = self._block()
        self._eof = not block
        self._feed(block)
        return True

    def peek(self, size: int) -> str:
        """Up to ``size`` characters from the current position, left to be read."""
        while len(self._text) - self._pos < size and self._more():
            pass
        return self._text[self._pos : self._pos + size]

    def at_end(self) -> bool:
        return self._eof and self._pos >= len(self._text)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        while (size is None or size < 0 or len(self._text) - self._pos < size) and self._more():
            pass
        end = len(self._text) if size is None or size < 0 else self._pos + size
        out = self._text[self._pos : end]
        self._pos += len(out)
        return out

    def readline(self, size: int | None = -1) -> str:
        while self._text.find("\n", self._pos) < 0 and self._more():
            pass
        end = self._text.find("\n", self._pos) + 1 or len(self._text)
        out = self._text[self._pos : end]
        self._pos = end
        return out

    def close(self) -> None:
        if not self.closed:
            if self._raw is not self._file:
                self._raw.close()
            self._file.close()
        super().close()


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


def _wider_line(path: Path, encoding: str | None, sep: str, width: int) -> int | str:
    """The first line of a row with more than ``width`` fields."""
    with _Text(path, encoding) as text:
        rows = csv.reader(text, delimiter=sep)
        return next((rows.line_num for row in rows if len(row) > width), "?")


def _parse(path: Path, step: Callable[[], Any], encoding: str | None, sep: str, how: str, width: int) -> Any:
    """``step()`` (pandas reading rows), its failures as one-line ``DataError``s."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return step()
    except pd.errors.ParserWarning:  # index_col=False: a row wider than the header
        raise DataError(f"{path}: line {_wider_line(path, encoding, sep, width)} has more fields than the header's "
                        f"{width} column{'' if width == 1 else 's'} (delimiter: {delimiter_name(sep)}, {how}); name every column in the "
                        "header or remove the extra delimiters (quote a text that holds one).") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; give a CSV file with a header row and data rows.") from None
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise DataError(f"{path}: cannot be read as CSV ({one_line(exc)}); check the quoting and the number "
                        f"of fields on that line (delimiter: {delimiter_name(sep)}, {how}).") from None


def _frames(parse: Callable[[Callable[[], Any]], Any], read: Callable[..., Any],
            chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    if chunk_rows is None:
        yield parse(read)
        return
    with parse(partial(read, chunksize=chunk_rows)) as chunks:
        while (frame := parse(partial(next, chunks, None))) is not None:
            yield frame


def iter_csv_file(path: Path, encoding: str | None = None, delimiter: str | None = None,
                  chunk_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """The file's data rows as DataFrames of ``chunk_rows`` rows (all rows in one when ``None``), indexed by
    data row (0: the first row under the header); ``DataError`` (one line) for a file that is not a regular
    file, not text, empty, without data rows, or with a row wider than its header."""
    path = Path(path)
    with _Text(path, encoding) as text:
        sample = text.peek(_SAMPLE_BYTES)
        if not sample.strip() and text.at_end():
            raise DataError(f"{path}: the file is empty; give a CSV file with a header row and data rows.")
        sep = _check_delimiter(path, delimiter) if delimiter is not None else detect_delimiter(sample)
        how = "set by data.delimiter" if delimiter is not None else "detected; set data.delimiter to override"
        header = _rows(sample[: sample.find("\n") + 1 or len(sample)], sep)
        width = len(header[0]) if header else 0
        _check_header(path, header[0] if header else [], sep)
        parse = partial(_parse, path, encoding=encoding, sep=sep, how=how, width=width)
        read = partial(pd.read_csv, text, sep=sep, index_col=False)
        columns, rows = [], 0
        for frame in _frames(parse, read, chunk_rows):
            frame.attrs.update(delimiter=sep, encoding=text.encoding_read)
            columns, rows = list(frame.columns), rows + len(frame)
            if len(frame):
                yield frame
        if rows == 0:
            raise DataError(f"{path}: has a header ({', '.join(map(str, columns))}) but no data rows; "
                            "give a CSV file with data rows under its header.")


def read_csv_file(path: Path, encoding: str | None = None, delimiter: str | None = None) -> pd.DataFrame:
    """The whole file as one DataFrame with at least one data row; ``DataError`` (one line) otherwise."""
    frames = iter_csv_file(path, encoding, delimiter)
    try:
        return next(frames)
    finally:
        frames.close()


def delimiter_hint(frame: pd.DataFrame) -> str:
    """A hint when a one-column frame's name holds another delimiter (the detection was overridden)."""
    if frame.shape[1] == 1:
        name = str(frame.columns[0])
        found = [d for d in DELIMITERS if d in name]
        if found:
            return (f" The file was read as one column: is it {delimiter_name(found[0])}-separated? "
                    f"Set data.delimiter = {found[0]!r}.")
    return ""
