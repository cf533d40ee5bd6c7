"""A raw table's file name comes from its source `identifier` alone, which a deployment sets with
the var raw_identifiers: renaming the file and setting the var, and nothing else, still refreshes
(loading by identifier: unit/test_load_raw.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from helpers.project import SAMPLE_DATA_DIR, copy_project, output_of, run_refresh

from customer_health.errors import BadInputError

OLD_NAME, NEW_NAME = "ravenstack_accounts", "crm_accounts_export"


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the project whose var raw_identifiers gives the accounts a new identifier, and
    the sample data with the accounts file renamed to match."""
    folder = tmp_path_factory.mktemp("renamed_raw_table")
    project = copy_project(folder / "project")
    settings = project / "dbt_project.yml"
    declaration = "  raw_identifiers: {}\n"
    assert settings.read_text().count(declaration) == 1
    settings.write_text(settings.read_text().replace(
        declaration, f"  raw_identifiers: {{crm.accounts: {NEW_NAME}}}\n"))
    raw_dir = shutil.copytree(SAMPLE_DATA_DIR, folder / "raw")
    (raw_dir / f"{OLD_NAME}.csv").rename(raw_dir / f"{NEW_NAME}.csv")
    return project, raw_dir


def test_renaming_a_raw_file_and_its_identifier_refreshes(
    renamed: tuple[Path, Path], tmp_path: Path
) -> None:
    project, raw_dir = renamed
    db_path = tmp_path / "scores.duckdb"

    completed = run_refresh(db_path, raw_dir, tmp_path / "target", project_dir=project)

    assert completed.returncode == 0, output_of(completed)
    with duckdb.connect(str(db_path), read_only=True) as connection:
        scored = connection.execute(
            "select count(*) from health.customer_health_scores"
        ).fetchone()
    assert scored == (500,)


def test_a_missing_raw_file_is_named_by_its_identifier(
    renamed: tuple[Path, Path], tmp_path: Path
) -> None:
    project, raw_dir = renamed
    partial = shutil.copytree(raw_dir, tmp_path / "raw")
    (partial / f"{NEW_NAME}.csv").unlink()

    completed = run_refresh(
        tmp_path / "scores.duckdb", partial, tmp_path / "target", project_dir=project
    )

    assert completed.returncode == BadInputError.exit_code, output_of(completed)
    assert f"{NEW_NAME}.csv" in output_of(completed)
