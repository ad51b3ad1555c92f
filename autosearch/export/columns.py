"""Which columns of a user's CSV feed the model: ``predict --text-column`` and ``--column FEATURE=CSVCOLUMN``.

Light (pandas only): predict checks the options against the bundle's manifest, and the CSV's header against
the model's columns, before TensorFlow is imported. Every refusal names the option that fixes it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from autosearch.errors import InputError

Mapper = Callable[[pd.DataFrame], pd.DataFrame]
FIX_TEXT = "name yours with --text-column COLUMN"
FIX_FEATURES = "map yours with --column FEATURE=CSVCOLUMN (repeat it for each feature)"


def parse_column_options(pairs: Sequence[str], features: Sequence[str]) -> dict[str, str]:
    """``["age=AGE", ...]`` as {feature: CSV column}; a feature may itself hold '=' (the split is at the first
    '=' whose left side is one of the model's ``features``)."""
    mapping: dict[str, str] = {}
    known = ", ".join(map(str, features))
    for pair in pairs:
        cuts = [i for i, char in enumerate(pair) if char == "="]
        if not cuts:
            raise InputError(f"--column {pair!r} is not FEATURE=CSVCOLUMN; e.g. --column {features[0]}=my_column "
                             f"(the model's features: {known}).")
        feature, column = next(((pair[:i], pair[i + 1:]) for i in cuts if pair[:i] in features),
                               (pair[:cuts[0]], pair[cuts[0] + 1:]))
        if feature not in features:
            raise InputError(f"--column {pair}: the model has no feature '{feature}'; its features are: {known}.")
        if feature in mapping:
            raise InputError(f"--column maps the feature '{feature}' twice ({mapping[feature]}, {column}); "
                             "give each feature one CSV column.")
        mapping[feature] = column
    return mapping


def check_options(schema: Mapping[str, Any], text_column: str | None, pairs: Sequence[str]) -> None:
    """The options fit the bundle's kind of model (before any input is read)."""
    kind = schema.get("kind")
    if text_column is not None and kind != "text":
        hint = f"; {FIX_FEATURES}" if kind == "structured" else ""
        raise InputError(f"--text-column is for text models; this bundle holds a {kind} model{hint}.")
    if pairs and kind != "structured":
        hint = f"; {FIX_TEXT}" if kind == "text" else ""
        raise InputError(f"--column is for structured (table) models; this bundle holds a {kind} model{hint}.")


def column_mapper(schema: Mapping[str, Any], header: Sequence[str], where: str, text_column: str | None,
                  pairs: Sequence[str]) -> Mapper:
    """A function from a chunk of the CSV to the frame the model reads, after checking ``header`` (the CSV's
    columns) holds every column the model needs under the names the options give."""
    columns = ", ".join(map(str, header))
    if schema.get("kind") == "text":
        wanted = str(schema.get("text_column", "text"))
        if text_column is not None:
            if text_column not in header:
                raise InputError(f"--text-column {text_column}: {where} has no column '{text_column}'; its "
                                 f"columns are: {columns}.")
            return lambda chunk: _select(chunk, {wanted: text_column})
        if wanted not in header and len(header) != 1:  # one column is the text, whatever its name
            raise InputError(f"{where} has no text column '{wanted}' (the column the model was trained on); its "
                             f"columns are: {columns}; {FIX_TEXT}.")
        return lambda chunk: chunk
    if schema.get("kind") != "structured":
        return lambda chunk: chunk
    features = [str(f) for f in schema.get("columns", [])]
    mapping = parse_column_options(pairs, features)
    for feature, column in mapping.items():
        if column not in header:
            raise InputError(f"--column {feature}={column}: {where} has no column '{column}'; its columns are: "
                             f"{columns}.")
    sources = {feature: mapping.get(feature, feature) for feature in features}
    missing = [feature for feature, column in sources.items() if column not in header]
    if missing:
        raise InputError(f"{where} is missing column(s) {', '.join(missing)} of the model's features; "
                         f"{FIX_FEATURES}; its columns are: {columns}.")
    return (lambda chunk: _select(chunk, sources)) if mapping else (lambda chunk: chunk)


def _select(chunk: pd.DataFrame, sources: Mapping[str, str]) -> pd.DataFrame:
    """The model's columns, each read from its CSV column; the chunk's ``attrs`` (file, first row) kept."""
    frame = pd.DataFrame({feature: chunk[column] for feature, column in sources.items()}, index=chunk.index)
    frame.attrs.update(chunk.attrs)
    return frame
