"""`health report` on the published sample, opened in a real headless Chromium: every section and
plot is in the DOM, the page logs no console error (and a page with one is caught), it loads
nothing from outside itself, and its screenshot shows the plots."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from helpers.browser import CHROMIUM, console_errors, dump_dom, screenshot
from helpers.history import build_generated_history
from helpers.project import output_of, run_health
from PIL import Image

from customer_health.errors import BadInputError
from customer_health.report.plots import SHADES

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make browser)")

SECTIONS = ("distribution", "worklist", "movers", "mix", "churn", "quality", "glossary")
# The sample refreshed once: one scored date (no movers yet) and no backtest report.
PLOTS = ["score_histogram", "grade_mix", "status_mix", "quarantine"]


@pytest.fixture(scope="module")
def report(published_baseline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the published baseline (read-only), with no backtest report at hand."""
    out = tmp_path_factory.mktemp("report")
    done = run_health("report", [
        "--db-path", str(published_baseline.db_path), "--out", str(out),
        "--backtest", str(out / "absent" / "backtest.json"),
        "--target-path", str(published_baseline.db_path.parent / "target"), "--quiet",
    ])
    assert done.returncode == 0, output_of(done)
    return out / "report.html"


@pytest.fixture(scope="module")
def history_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the generated history (ten backfilled month ends, the backtest's shared
    database) after a backtest of it: movers and churn by grade, but no current scores."""
    history = build_generated_history(tmp_path_factory)
    out = tmp_path_factory.mktemp("history_report")
    for command, args in (
        ("backtest", ["--out", str(out / "backtest"), "--bootstrap", "50"]),
        ("report", ["--out", str(out), "--backtest", str(out / "backtest" / "backtest.json"),
                    "--target-path", str(history.db_path.parent / "target")]),
    ):
        done = run_health(command, ["--db-path", str(history.db_path), "--quiet", *args])
        assert done.returncode == 0, output_of(done)
    return out / "report.html"


def with_body_end(page: Path, html: str, out: Path) -> str:
    """A copy of the page with `html` before </body>, as a file URL."""
    out.write_text(page.read_text(encoding="utf-8").replace("</body>", html + "</body>"),
                   encoding="utf-8")
    return out.as_uri()


def test_the_dom_holds_every_section_and_plot(report: Path) -> None:
    dom = dump_dom(report.as_uri())
    for key in SECTIONS:
        assert f'<section id="{key}">' in dom, key
    assert re.findall(r'<figure class="plot" data-plot="([a-z_]+)"><svg', dom) == PLOTS
    assert dom.count("<svg") == len(PLOTS)
    assert "Customer health as of 2024-12-31" in dom
    assert "No backtest report was found" in dom and "make backtest" in dom
    assert "nothing to compare with" in dom
    worklist = dom.split('<section id="worklist">')[1].split("</section>")[0]
    assert worklist.count("<tr>") == 1 + 15  # the header and the first 15 accounts


def test_a_history_shows_its_movers_and_the_backtest_its_churn_by_grade(
    history_report: Path,
) -> None:
    dom = dump_dom(history_report.as_uri())
    assert re.findall(r'<figure class="plot" data-plot="([a-z_]+)"><svg', dom) == [
        "movers", "gains_and_losses", "grade_mix", "status_mix", "churn_by_grade"]
    movers = dom.split('<section id="movers">')[1].split("</section>")[0]
    assert movers.count("<tr>") == 1 + 2 * 8  # the header, 8 falls and 8 rises
    assert "No current scores are published yet" in dom
    assert "The score predicts churn" in dom or "Do not prioritise outreach" in dom
    assert console_errors(history_report.as_uri()) == []


def test_the_page_logs_no_console_error(report: Path) -> None:
    assert console_errors(report.as_uri()) == []


def test_a_script_error_on_the_page_is_caught(report: Path, tmp_path: Path) -> None:
    """The check can fail: the page with its policy lifted and a deliberate error added."""
    page = tmp_path / "broken.html"
    page.write_text(report.read_text(encoding="utf-8").replace(
        '<meta http-equiv="Content-Security-Policy"', '<meta name="no-policy"').replace(
        "</body>", "<script>console.error('deliberate'); undefinedFunction();</script></body>"),
        encoding="utf-8")
    errors = console_errors(page.as_uri())
    assert "console: deliberate" in errors
    assert any("ReferenceError: undefinedFunction is not defined" in e for e in errors), errors


def test_anything_loaded_from_outside_the_page_is_an_error(report: Path, tmp_path: Path) -> None:
    url = with_body_end(report, '<img src="https://example.com/logo.png">',
                        tmp_path / "remote.html")
    errors = console_errors(url)
    assert any("https://example.com/logo.png" in e and "Content Security Policy" in e
               for e in errors), errors


def test_the_screenshot_shows_the_plots(report: Path, tmp_path: Path) -> None:
    image = Image.open(screenshot(report.as_uri(), tmp_path / "report.png")).convert("RGB")
    assert image.size == (1280, 4000)
    pixels = np.asarray(image).reshape(-1, 3)

    def count(rgb: tuple[int, ...]) -> int:
        return int((pixels == rgb).all(axis=1).sum())

    for name in ("green", "amber", "red"):  # the statuses, in the histogram and the mix
        assert count(tuple(int(SHADES[name][i:i + 2], 16) for i in (1, 3, 5))) > 2000, name
    assert count((255, 255, 255)) < 0.9 * len(pixels)  # not a blank page


def test_a_database_with_nothing_published_is_bad_input(tmp_path: Path) -> None:
    done = run_health("report", ["--db-path", str(tmp_path / "none.duckdb"),
                                 "--out", str(tmp_path)])
    assert done.returncode == BadInputError.exit_code, output_of(done)
    assert "database file not found" in done.stderr.splitlines()[-1]
    assert not (tmp_path / "report.html").exists()
