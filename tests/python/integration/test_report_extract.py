"""The report reads the published relations through the evaluations' engine-neutral read path:
on PostgreSQL or Spark a local extract of every relation it shows. With the published sample's
file standing in for the PostgreSQL warehouse, the page from the extract shows exactly what the
page from the file shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer_health.engines import warehouse
from customer_health.evaluation import history as history_extract
from customer_health.report.data import read_report_data
from customer_health.report.options import ReportOptions
from customer_health.report.sections import build_sections


def test_the_page_from_an_extract_equals_the_page_from_the_file(
    published_baseline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    def connect(target: str, db_path: Path | None = None, read_only: bool = False
                ) -> warehouse.Warehouse:
        assert target == "postgres" and db_path is None
        return warehouse.DuckDBWarehouse(published_baseline.working_path, read_only=True)

    monkeypatch.setattr(history_extract.warehouse, "connect", connect)
    common = {"backtest": tmp_path / "absent.json",
              "target_path": published_baseline.db_path.parent / "target"}
    direct = read_report_data(ReportOptions(db_path=published_baseline.db_path, **common))
    extracted = read_report_data(ReportOptions(target="postgres", **common))
    assert extracted.source.startswith("postgres ") and direct.source.endswith(".duckdb")
    shown = ("scores", "at_risk", "changes", "metric_moves", "quarantine",
             "last_publish")
    assert [name for name in shown if getattr(extracted, name) is None] == []  # all copied
    pages = [build_sections(data, common["backtest"], 15, 8) for data in (direct, extracted)]
    assert pages[1] == pages[0]
    assert direct.last_publish is not None and direct.last_publish.warning_names == []
    assert {section.key for section in pages[0][1] if section.plots} == {
        "distribution", "mix", "quality"}
