"""Build the gate's GX objects at run time from gx/gate_config.yml, or check that config.

Nothing generated is committed: for every gate run, the suites (the SuitePlans of
customer_health.gate.checks) and their validation definitions are created in a GX file context
under the dbt target folder, `<target path>/gx/<dbt target>/` (ignored by git), where GX also
keeps the validation results and Data Docs of the last runs (uncommitted/).

    health check-config                      # exit 4 unless gx/gate_config.yml is valid
    health check-config --config other.yml

The check needs no database: it parses the dbt project (`dbt parse`, for the relations and
columns of the models the config names), loads the config, builds and serialises every suite
(gate and drift), checks the SQL checks' `{batch}` aliases (checks.check_batch_aliases) and that
every `$PARAMETER` a suite uses is one the gate supplies.

Results are BASIC: an unexpected count computed on the engine and a few unexpected values,
fetched with a LIMIT (COMPLETE would fetch every unexpected value).
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx
from great_expectations.data_context.types.base import ProgressBarsConfig

from customer_health.errors import BadInputError
from customer_health.gate.checks import SuitePlan, drift_suites, expectation_parameters, gate_suites
from customer_health.gate.config import (
    DEFAULT_CONFIG_PATH,
    GateConfig,
    GateConfigError,
    load_gate_config,
)
from customer_health.gate.dbt_manifest import DbtManifest, ManifestError, parsed_manifest

log = logging.getLogger(__name__)

# At most this many unexpected values are fetched per expectation (the report shows a few).
PARTIAL_UNEXPECTED_COUNT = 20
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "BASIC", "partial_unexpected_count": PARTIAL_UNEXPECTED_COUNT,
}
# Folders of the context that hold only the previous run's objects (JSON files).
_RUN_OBJECT_FOLDERS = ("expectations", "validation_definitions", "checkpoints")
# What setting a broken context up again keeps (in its folder uncommitted/).
_KEPT_ON_RESET = ("validations", "data_docs")


def context_dir(target_path: Path, target: str) -> Path:
    """Where the gate's GX file context for a dbt target lives."""
    return Path(target_path).resolve() / "gx" / target


def run_context(root: Path) -> Any:
    """The GX file context at root (created if missing), emptied of the previous run's suites,
    validation definitions and data sources; validation results and Data Docs are kept.

    GX writes its files in place (great_expectations.yml whenever a data source is added or
    deleted, so in every run): a gate killed meanwhile leaves one empty or cut short, and every
    later gate in this target folder would fail on it. A context that cannot be opened is set
    up again from scratch, once, keeping its validation results and Data Docs."""
    root = Path(root)
    for folder in _RUN_OBJECT_FOLDERS:
        if (root / folder).is_dir():
            for path in (root / folder).rglob("*.json"):
                path.unlink()
    root.mkdir(parents=True, exist_ok=True)
    try:
        return _open_context(root)
    except Exception as error:  # GX's own errors, or e.g. a TypeError on an empty file
        log.warning(
            "the GX context in %s cannot be opened (%s: %s), as a gate killed while GX wrote it "
            "leaves it: setting it up again", root, type(error).__name__, error,
        )
        _reset_context(root)
        return _open_context(root)


def _open_context(root: Path) -> Any:
    context = gx.get_context(mode="file", context_root_dir=str(root))
    _configure_project(context)
    for name in list(context.data_sources.all()):
        context.data_sources.delete(name)
    return context


def _reset_context(root: Path) -> None:
    """Delete the files of a context but its stored validation results and Data Docs."""
    kept = {root / "uncommitted", *(root / "uncommitted" / name for name in _KEPT_ON_RESET)}
    for path in [*root.iterdir(), *(root / "uncommitted").glob("*")]:
        if path in kept:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


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


def all_plans(config: GateConfig, manifest: DbtManifest) -> list[SuitePlan]:
    return [*gate_suites(config, manifest), *drift_suites(config, manifest)]


def check_config(config_path: Path, manifest: DbtManifest) -> list[str]:
    """Problems that would stop the gate from running with this config (empty: none)."""
    try:
        config = load_gate_config(config_path)
        plans = all_plans(config, manifest)
    except (GateConfigError, ManifestError, ValueError, KeyError, TypeError) as error:
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


def validate_config(config_path: Path | None = None) -> None:
    """Raise BadInputError listing every problem of a gate configuration; log a one-line
    description of a valid one."""
    config_path = config_path or DEFAULT_CONFIG_PATH
    with parsed_manifest() as manifest:
        problems = check_config(config_path, manifest)
        if problems:
            raise BadInputError(
                f"{config_path} is invalid ({len(problems)} problem(s))\n" + "\n".join(problems)
            )
        plans = all_plans(load_gate_config(config_path), manifest)
    log.info(
        "%s is valid: %d suites, %d expectations", config_path, len(plans),
        sum(len(plan.expectations) for plan in plans),
    )
