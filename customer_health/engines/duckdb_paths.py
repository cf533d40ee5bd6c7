"""File paths as DuckDB reads and writes them.

DuckDB's file readers (read_csv, read_parquet) expand `*`, `?` and `[...]` in every path they
are given, parameters included: a folder named `data[1]` would be read as `data1`. A path is
therefore passed with those characters escaped as one-character classes (`[[]`, `[*]`, `[?]`),
and always as a quoted SQL literal. The dbt sources do the same in Jinja (dbt_project.yml).
"""

from __future__ import annotations

from pathlib import Path

_GLOB_ESCAPES = (("[", "[[]"), ("*", "[*]"), ("?", "[?]"))  # `[` first: the others add brackets


def sql_string(text: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def read_pattern(path: Path, glob: str = "") -> str:
    """The SQL literal a DuckDB reader reads exactly `path` by (then `glob`, which does expand,
    e.g. "*.parquet" inside a folder)."""
    literal = path.as_posix()
    for character, escaped in _GLOB_ESCAPES:
        literal = literal.replace(character, escaped)
    if glob:
        literal = f"{literal}/{glob}"
    return sql_string(literal)


def write_path(path: Path) -> str:
    """The SQL literal of a file DuckDB writes (COPY ... TO, ATTACH): no glob expansion there."""
    return sql_string(path.as_posix())
