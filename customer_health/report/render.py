"""`health report`: one self-contained HTML page of the published scores (render_page), written
by run().

The page needs nothing but itself: plots are inline SVG, styles inline, no script, and a
Content-Security-Policy that forbids loading anything, so a browser shows it offline exactly as
it was written.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from customer_health.report.data import ReportData, read_report_data
from customer_health.report.options import ReportOptions
from customer_health.report.sections import Fact, Section, build_sections, day

log = logging.getLogger(__name__)

TEMPLATE = "report.html.j2"


COMMAND = re.compile(r"`([^`]+)`")


def with_code(text: str) -> Markup:
    """Text, HTML-escaped, with `commands` in backticks shown as code."""
    return Markup(COMMAND.sub(r"<code>\1</code>", str(escape(text))))


def environment() -> jinja2.Environment:
    """The package's templates, HTML-escaped (SVG is marked safe where it is inserted)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("customer_health.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["with_code"] = with_code
    return env


def render_page(facts: list[Fact], sections: list[Section], *, as_of_date: str, source: str,
                generated_at: str) -> str:
    """The page's HTML."""
    return environment().get_template(TEMPLATE).render(
        facts=facts, sections=sections, as_of_date=as_of_date, source=source,
        generated_at=generated_at,
    )


def render_report(data: ReportData, options: ReportOptions) -> str:
    facts, sections = build_sections(data, options.backtest, options.worklist_rows,
                                     options.movers)
    return render_page(facts, sections, as_of_date=day(data.latest_date), source=data.source,
                       generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def run(options: ReportOptions) -> Path:
    """Read the published relations, write the page to options.report_path and return it."""
    html = render_report(read_report_data(options), options)
    options.out.mkdir(parents=True, exist_ok=True)
    options.report_path.write_text(html, encoding="utf-8")
    log.info("report written to %s (%.0f kB)", options.report_path, len(html.encode()) / 1024)
    return options.report_path
