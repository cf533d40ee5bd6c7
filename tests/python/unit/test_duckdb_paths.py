"""A path reaches DuckDB as the folder it names: quotes, braces, unicode and glob characters."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from customer_health.engines.duckdb_paths import read_pattern, write_path

AWKWARD_NAMES = ["it's", "{braces}", "a[1]", "star*", "what?", "ünïcode ✓", "back\\slash"]


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_the_folder_read_is_the_folder_named(tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "t.csv").write_text("x\n1\n")
    # what the name means as a glob, if it were expanded: a folder with another value
    decoy = tmp_path / name.replace("[1]", "1").replace("*", "").replace("?", "")
    if decoy != folder:
        decoy.mkdir()
        (decoy / "t.csv").write_text("x\n2\n")
    rows = duckdb.sql(f"select x from read_csv({read_pattern(folder / 't.csv')})").fetchall()
    assert rows == [(1,)]


def test_a_glob_after_the_folder_still_expands(tmp_path: Path) -> None:
    folder = tmp_path / "parts [2024]"
    folder.mkdir()
    for part in range(3):
        duckdb.sql(f"copy (select {part} as x) to {write_path(folder / f'p{part}.parquet')}")
    rows = duckdb.sql(
        f"select sum(x) from read_parquet({read_pattern(folder, '*.parquet')})"
    ).fetchall()
    assert rows == [(3,)]


def test_a_written_file_lands_at_its_literal_path(tmp_path: Path) -> None:
    out = tmp_path / "it's [1] {x}.csv"
    duckdb.sql(f"copy (select 7 as x) to {write_path(out)}")
    assert out.read_text().splitlines() == ["x", "7"]
