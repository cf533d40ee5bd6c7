"""The scoring-config version changes with the seeds and with every var that changes a score, and
only with those."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from customer_health.errors import BadInputError
from customer_health.scoring_config import scoring_config_version, scoring_vars
from customer_health.settings import PROJECT_DIR


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The files the version is computed from: dbt_project.yml and the seeds."""
    shutil.copy(PROJECT_DIR / "dbt_project.yml", tmp_path / "dbt_project.yml")
    shutil.copytree(PROJECT_DIR / "seeds", tmp_path / "seeds")
    return tmp_path


def set_project_var(project: Path, name: str, value: object) -> None:
    path = project / "dbt_project.yml"
    config = yaml.safe_load(path.read_text())
    config["vars"][name] = value
    path.write_text(yaml.safe_dump(config))


def test_every_scoring_var_is_a_project_var() -> None:
    assert "usage_window_days" in scoring_vars()
    assert "raw_schema" not in scoring_vars()


@pytest.mark.parametrize(
    ("name", "value"),
    [("usage_window_days", 31), ("min_weight_coverage", 0.5), ("low_coverage_status", "unhealthy"),
     ("urgent_priorities", ["urgent", "high"]), ("plausible_dates", {"min": "2000-01-01"})],
)
def test_changing_a_scoring_var_changes_the_version(
    project: Path, name: str, value: object
) -> None:
    before = scoring_config_version(project_dir=project)
    set_project_var(project, name, value)

    assert scoring_config_version(project_dir=project) != before


@pytest.mark.parametrize(
    ("name", "value"), [("raw_schema", "landing"), ("promoter_min_score", 90), ("arr_months", 13)]
)
def test_changing_another_var_keeps_the_version(project: Path, name: str, value: object) -> None:
    before = scoring_config_version(project_dir=project)
    set_project_var(project, name, value)

    assert scoring_config_version(project_dir=project) == before


def test_a_run_override_of_a_scoring_var_changes_the_version(project: Path) -> None:
    plain = scoring_config_version(project_dir=project)

    assert scoring_config_version({"csat_window_days": 180}, project) != plain
    assert scoring_config_version({"as_of_date": "2024-06-30"}, project) == plain


def test_changing_a_seed_changes_the_version(project: Path) -> None:
    before = scoring_config_version(project_dir=project)
    bands = project / "seeds" / "scoring_bands.csv"
    bands.write_text(bands.read_text().replace("low activity", "quiet"))

    assert scoring_config_version(project_dir=project) != before


def test_a_misspelt_scoring_var_is_refused(project: Path) -> None:
    config = yaml.safe_load((project / "dbt_project.yml").read_text())
    set_project_var(project, "scoring_vars", [*config["vars"]["scoring_vars"], "usage_windows"])

    with pytest.raises(BadInputError, match="usage_windows"):
        scoring_config_version(project_dir=project)


# Vars that the score models read but that do not change what a score says: where the raw data
# is, which dates are scored, engine type names, the version itself, which raw columns are kept
# (attribute metrics, a scoring var, decide which are scored) and the outcome (never scored).
NOT_SCORING = {
    "raw_schema", "as_of_date", "as_of_dates", "column_types", "scoring_config_version",
    "attribute_columns", "snapshot_outcome_column",
}
VAR_CALL = re.compile(r"""var\(\s*['"]([a-z_]+)['"]""")


def test_every_var_the_score_models_read_is_a_scoring_var() -> None:
    """A var added to the models behind a score row must be classified: hashed, or not scoring."""
    score_sql = [
        *(PROJECT_DIR / "models" / "staging").rglob("*.sql"),
        *(PROJECT_DIR / "models" / "intermediate").rglob("*.sql"),
        *(PROJECT_DIR / "models" / "marts").glob("customer_health_score*.sql"),
        *(PROJECT_DIR / "macros").rglob("*.sql"),
    ]
    read = {name for path in score_sql for name in VAR_CALL.findall(path.read_text())}

    assert read - NOT_SCORING <= set(scoring_vars())
