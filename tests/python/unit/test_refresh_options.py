"""What a refresh asks of dbt, from its options (without running dbt)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers.project import output_of, run_health

from customer_health.pipeline import run
from customer_health.pipeline.run_summary import RunSummary


class Stop(Exception):
    """Raised where the build would start."""


@pytest.mark.parametrize("check_every_row", [False, True])
def test_check_every_row_sets_the_var_of_the_staged_usage_tests(
    check_every_row: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asked: list[Mapping[str, object]] = []

    @contextmanager
    def prepared_build(options: run.RunOptions,
                       dbt_vars: Mapping[str, object] | None = None) -> Iterator[None]:
        asked.append(dict(dbt_vars or {}))
        raise Stop
        yield

    monkeypatch.setattr(run, "prepared_build", prepared_build)
    options = run.RunOptions(db_path=tmp_path / "h.duckdb", check_every_row=check_every_row)
    with pytest.raises(Stop):
        run.refresh(options, RunSummary("refresh", "duckdb"))
    assert asked == [{run.CHECK_EVERY_ROW_VAR: True} if check_every_row else {}]


def test_the_refresh_command_takes_the_option() -> None:
    done = run_health("refresh", ["--help"])
    assert done.returncode == 0, output_of(done)
    assert "--check-every-row" in done.stdout
