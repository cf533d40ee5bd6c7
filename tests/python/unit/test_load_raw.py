"""Loading raw files into PostgreSQL or Spark: each table is named, and its file found, by the
identifier its dbt source declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer_health.dbt_project import ProjectFacts, RawTable
from customer_health.errors import BadInputError
from customer_health.pipeline import load
from customer_health.settings import PipelinePaths

IDENTIFIER = "crm_accounts_export"


class RecordingWarehouse:
    """Stands in for a PostgreSQL or Spark connection: records what load_raw loads."""

    def __init__(self) -> None:
        self.loaded: list[tuple[str, str, str]] = []

    def __enter__(self) -> RecordingWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def load_raw_file(self, schema: str, table: str, path: Path, file_format: str) -> None:
        self.loaded.append((schema, table, path.name))

    def query(self, sql: str) -> list[tuple[int]]:
        return [(0,)]


def test_load_names_the_table_after_the_identifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / f"{IDENTIFIER}.csv").write_text("account_id\n")
    warehouse = RecordingWarehouse()
    tables = (RawTable("crm", "accounts", IDENTIFIER, "landing"),)
    monkeypatch.setattr(load, "connect", lambda target: warehouse)
    monkeypatch.setattr(
        load, "project_facts", lambda target_path, target: ProjectFacts(tables, ())
    )
    monkeypatch.setenv("HEALTH_RAW_DATA_FORMAT", "csv")

    load.load_raw(PipelinePaths(tmp_path / "x.duckdb", tmp_path, "postgres"), tmp_path / "target")

    assert warehouse.loaded == [("landing", IDENTIFIER, f"{IDENTIFIER}.csv")]


def test_load_refuses_a_folder_without_the_declared_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = (RawTable("crm", "accounts", IDENTIFIER, "raw"),)
    monkeypatch.setattr(load, "project_facts", lambda target_path, target: ProjectFacts(tables, ()))
    monkeypatch.setenv("HEALTH_RAW_DATA_FORMAT", "csv")

    with pytest.raises(BadInputError, match=f"{IDENTIFIER}.csv"):
        load.load_raw(PipelinePaths(tmp_path / "x.duckdb", tmp_path, "spark"), tmp_path / "t")
