"""Build the gate's GX objects at run time from gx/gate_config.yml, or check that config.

Nothing generated is committed: for every gate run, the suites (from gx_checks.py's SuitePlans)
and their validation definitions are created in a GX file context under the dbt target folder,
`<target path>/gx/<dbt target>/` (ignored by git), where GX also keeps the validation results
and Data Docs of the last runs (uncommitted/).

    .venv/bin/python scripts/gx_suites.py --check   # exit 1 unless gate_config.yml is valid
    .venv/bin/python scripts/gx_suites.py --check --config other.yml

`--check` needs no database: it loads the config, builds and serialises every suite (gate and
drift), checks the SQL checks' `{batch}` aliases (gx_checks.check_batch_aliases) and that every
`$PARAMETER` a suite uses is one the gate supplies.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx
from great_expectations.data_context.types.base import ProgressBarsConfig

from gx_checks import SuitePlan, drift_suites, expectation_parameters, gate_suites
from gx_config import DEFAULT_CONFIG_PATH, GateConfig, GateConfigError, load_gate_config

log = logging.getLogger(__name__)

RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
# Folders of the context that hold only the previous run's objects (JSON files).
_RUN_OBJECT_FOLDERS = ("expectations", "validation_definitions", "checkpoints")


def context_dir(target_path: Path, target: str) -> Path:
    """Where the gate's GX file context for a dbt target lives."""
    return Path(target_path).resolve() / "gx" / target


def run_context(root: Path) -> Any:
    """The GX file context at root (created if missing), emptied of the previous run's suites,
    validation definitions and data sources; validation results and Data Docs are kept."""
    root = Path(root)
    for folder in _RUN_OBJECT_FOLDERS:
        if (root / folder).is_dir():
            for path in (root / folder).rglob("*.json"):
                path.unlink()
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", context_root_dir=str(root))
    _configure_project(context)
    for name in list(context.data_sources.all()):
        context.data_sources.delete(name)
    return context


def _configure_project(context: Any) -> None:
    """No progress bars on stderr, no analytics."""
    variables = context.variables
    progress = variables.progress_bars
    current = progress if isinstance(progress, dict) else vars(progress or ProgressBarsConfig())
    changed = False
    if current.get("globally") is not False or current.get("metric_calculations") is not False:
        variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        changed = True
    if variables.analytics_enabled is not False:
        variables.analytics_enabled = False
        changed = True
    if changed:
        variables.save()


def _suite(plan: SuitePlan) -> Any:
    return gx.ExpectationSuite(
        name=plan.name, expectations=[expectation.copy() for expectation in plan.expectations]
    )


def add_suite(context: Any, plan: SuitePlan) -> Any:
    """Save the plan's expectation suite in the context."""
    return context.suites.add(_suite(plan))


def add_validation_definition(context: Any, plan: SuitePlan, batch_definition: Any) -> Any:
    """Save the plan's suite and a validation definition running it on batch_definition."""
    suite = add_suite(context, plan)
    return context.validation_definitions.add(
        gx.ValidationDefinition(name=plan.name, data=batch_definition, suite=suite)
    )


def all_plans(config: GateConfig) -> list[SuitePlan]:
    return [*gate_suites(config), *drift_suites(config)]


def check_config(config_path: Path) -> list[str]:
    """Problems that would stop the gate from running with this config (empty: none)."""
    try:
        config = load_gate_config(config_path)
        plans = all_plans(config)
    except (GateConfigError, ValueError, KeyError, TypeError) as error:
        return [f"{type(error).__name__}: {error}"]
    problems = []
    names = [plan.name for plan in plans]
    problems += [f"suite {name} is defined twice" for name in sorted(set(names))
                 if names.count(name) > 1]
    supplied = set(expectation_parameters(config, date(2000, 1, 1), date(2000, 1, 1)))
    for plan in plans:
        try:  # what saving the suite in the gate's context does: build it and serialise it
            _suite(plan).to_json_dict()
        except Exception as error:
            problems.append(f"suite {plan.name}: GX rejects it: {error}")
        for expectation in plan.expectations:
            if not (expectation.meta or {}).get("check"):
                problems.append(f"suite {plan.name}: an expectation has no meta.check")
            missing = _parameters(expectation.configuration.kwargs) - supplied
            problems += [
                f"suite {plan.name}: parameter {name} is not supplied by the gate"
                for name in sorted(missing)
            ]
    return problems


def _parameters(value: Any) -> set[str]:
    """Names of the `{"$PARAMETER": name}` references in an expectation's arguments."""
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"}:
            return {str(value["$PARAMETER"])}
        return {name for item in value.values() for name in _parameters(item)}
    if isinstance(value, list | tuple):
        return {name for item in value for name in _parameters(item)}
    return set()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="gate config YAML"
    )
    parser.add_argument(
        "--check", action="store_true",
        help="validate the config and build every suite, without a database (the default and "
        "only action: the suites themselves are built when the gate runs)",
    )
    args = parser.parse_args(argv)
    problems = check_config(args.config)
    for problem in problems:
        log.error("%s: %s", args.config, problem)
    if problems:
        return 1
    config = load_gate_config(args.config)
    plans = all_plans(config)
    log.info(
        "%s is valid: %d suites, %d expectations", args.config, len(plans),
        sum(len(plan.expectations) for plan in plans),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
