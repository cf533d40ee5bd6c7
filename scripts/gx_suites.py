"""Write the gate's GX objects (data source, assets, suites, validation definitions,
checkpoints) into the file context gx/ from gx/gate_config.yml, or check that gx/ is up to date.

    .venv/bin/python scripts/gx_suites.py           # (re)generate what changed in gx/
    .venv/bin/python scripts/gx_suites.py --check   # exit 1 when gx/ is out of date

Only suites whose expectations changed are rewritten (with their validation definitions and the
checkpoints that run them), so an unchanged configuration leaves gx/ byte for byte as it was.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import duckdb
import great_expectations as gx
from great_expectations.data_context.types.base import ProgressBarsConfig

import gx_duckdb
from gx_checks import SuitePlan, drift_suites, gate_suites, suite_fingerprint
from gx_config import DEFAULT_CONFIG_PATH, GateConfig, load_gate_config

log = logging.getLogger(__name__)

DATASOURCE_NAME = "customer_health_duckdb"
BATCH_DEFINITION_NAME = "all_rows"
GATE_CHECKPOINT = "customer_health.pre_publish"
DRIFT_CHECKPOINT = "customer_health.drift"
RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 20}


def get_file_context(gx_dir: Path) -> Any:
    """The FILE data context rooted at gx_dir (its parent is the project folder)."""
    gx_duckdb.enable_persisted_connection()
    return gx.get_context(mode="file", project_root_dir=str(Path(gx_dir).resolve().parent))


def checkpoint_plans(config: GateConfig) -> dict[str, list[SuitePlan]]:
    return {GATE_CHECKPOINT: gate_suites(config), DRIFT_CHECKPOINT: drift_suites(config)}


def stale_objects(context: Any, config: GateConfig) -> list[str]:
    """Names of GX objects in the context that differ from (or are missing for) the config."""
    stale: list[str] = []
    assets = _existing_assets(context)
    for checkpoint_name, plans in checkpoint_plans(config).items():
        for plan in plans:
            if assets.get(plan.asset) != gx_duckdb.relation_query(plan.relation):
                stale.append(f"asset {plan.asset}")
            if not _suite_matches(context, plan):
                stale.append(f"suite {plan.name}")
            if not _has(context.validation_definitions, plan.name):
                stale.append(f"validation definition {plan.name}")
        if not _checkpoint_matches(context, checkpoint_name, plans):
            stale.append(f"checkpoint {checkpoint_name}")
    stale += [
        f"{kind} {name} (no longer configured)"
        for kind, names in _orphans(context, config).items()
        for name in names
    ]
    return sorted(set(stale))


def _orphans(context: Any, config: GateConfig) -> dict[str, list[str]]:
    """GX objects in gx/ that the config no longer asks for, in the order to delete them."""
    plans = [plan for plans in checkpoint_plans(config).values() for plan in plans]
    suites = {plan.name for plan in plans}
    return {
        "checkpoint": sorted(
            checkpoint.name
            for checkpoint in context.checkpoints.all()
            if checkpoint.name not in checkpoint_plans(config)
        ),
        "validation definition": sorted(
            definition.name
            for definition in context.validation_definitions.all()
            if definition.name not in suites
        ),
        "suite": sorted(suite.name for suite in context.suites.all() if suite.name not in suites),
        "asset": sorted(set(_existing_assets(context)) - {plan.asset for plan in plans}),
    }


def _delete_orphans(context: Any, config: GateConfig) -> list[str]:
    stores = {
        "checkpoint": context.checkpoints,
        "validation definition": context.validation_definitions,
        "suite": context.suites,
    }
    deleted = []
    for kind, names in _orphans(context, config).items():
        for name in names:
            if kind == "asset":
                context.data_sources.get(DATASOURCE_NAME).delete_asset(name)
            else:
                stores[kind].delete(name)
            deleted.append(f"deleted {kind} {name}")
    return deleted


def write_context(config: GateConfig, gx_dir: Path) -> list[str]:
    """Bring gx/ in line with the config; return what was (re)written."""
    context = get_file_context(gx_dir)
    _configure_project(context)
    if not stale_objects(context, config):
        return []
    written: list[str] = []
    with _empty_database() as scratch_db, gx_duckdb.database_url_env(scratch_db):
        # Checkpoints reference validation definitions, which reference suites and assets:
        # drop the checkpoints first and write them last.
        for checkpoint_name in checkpoint_plans(config):
            _delete_checkpoint(context, gx_dir, checkpoint_name)
        written += _delete_orphans(context, config)
        datasource = _datasource(context)
        for checkpoint_name, plans in checkpoint_plans(config).items():
            rewritten = [plan for plan in plans if _write_suite(context, datasource, plan)]
            written += [f"suite {plan.name}" for plan in rewritten]
            _write_checkpoint(context, checkpoint_name, plans)
            written.append(f"checkpoint {checkpoint_name}")
        gx_duckdb.close_execution_engines(context)
    return written


def _delete_checkpoint(context: Any, gx_dir: Path, name: str) -> None:
    """Delete a checkpoint, even one whose validation definitions are gone (unloadable)."""
    try:
        context.checkpoints.delete(name)
    except Exception:
        (Path(gx_dir) / "checkpoints" / f"{name}.json").unlink(missing_ok=True)


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


class _empty_database:
    """A temporary empty DuckDB file: adding a GX SQL data source tests its connection."""

    def __enter__(self) -> Path:
        self._folder = tempfile.TemporaryDirectory()
        path = Path(self._folder.name) / "empty.duckdb"
        duckdb.connect(str(path)).close()
        return path

    def __exit__(self, *exc: object) -> None:
        self._folder.cleanup()


def _datasource(context: Any) -> Any:
    try:
        return context.data_sources.get(DATASOURCE_NAME)
    except (KeyError, ValueError, LookupError):
        return context.data_sources.add_sql(
            name=DATASOURCE_NAME,
            connection_string=gx_duckdb.CONNECTION_STRING,
            kwargs=gx_duckdb.ENGINE_KWARGS,
        )


def _existing_assets(context: Any) -> dict[str, str]:
    try:
        datasource = context.data_sources.get(DATASOURCE_NAME)
    except (KeyError, ValueError, LookupError):
        return {}
    return {asset.name: getattr(asset, "query", "") for asset in datasource.assets}


def _batch_definition(datasource: Any, plan: SuitePlan) -> tuple[Any, bool]:
    """The plan's batch definition, (re)creating its query asset if needed; True if created."""
    query = gx_duckdb.relation_query(plan.relation)
    if plan.asset in datasource.get_asset_names():
        asset = datasource.get_asset(plan.asset)
        if getattr(asset, "query", None) == query:
            return asset.get_batch_definition(BATCH_DEFINITION_NAME), False
        datasource.delete_asset(plan.asset)
    asset = datasource.add_query_asset(name=plan.asset, query=query)
    return asset.add_batch_definition_whole_table(BATCH_DEFINITION_NAME), True


def _write_suite(context: Any, datasource: Any, plan: SuitePlan) -> bool:
    """Write the plan's suite and validation definition if either changed; True if written."""
    batch_definition, new_asset = _batch_definition(datasource, plan)
    if (
        not new_asset
        and _suite_matches(context, plan)
        and _has(context.validation_definitions, plan.name)
    ):
        return False
    for store in (context.validation_definitions, context.suites):
        if _has(store, plan.name):
            store.delete(plan.name)
    suite = context.suites.add(gx.ExpectationSuite(name=plan.name))
    for expectation in plan.expectations:
        suite.add_expectation(expectation.copy())
    suite.save()
    context.validation_definitions.add(
        gx.ValidationDefinition(name=plan.name, data=batch_definition, suite=suite)
    )
    log.info("wrote suite and validation definition %s", plan.name)
    return True


def _write_checkpoint(context: Any, name: str, plans: Sequence[SuitePlan]) -> None:
    context.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=[context.validation_definitions.get(p.name) for p in plans],
            actions=[],
            result_format=RESULT_FORMAT,
        )
    )
    log.info("wrote checkpoint %s", name)


def _has(store: Any, name: str) -> bool:
    try:
        store.get(name)
    except Exception:
        return False
    return True


def _suite_matches(context: Any, plan: SuitePlan) -> bool:
    if not _has(context.suites, plan.name):
        return False
    stored = context.suites.get(plan.name).expectations
    return suite_fingerprint(stored) == suite_fingerprint(plan.expectations)


def _checkpoint_matches(context: Any, name: str, plans: Iterable[SuitePlan]) -> bool:
    if not _has(context.checkpoints, name):
        return False
    checkpoint = context.checkpoints.get(name)
    stored = [definition.name for definition in checkpoint.validation_definitions]
    ids_current = all(
        _has(context.validation_definitions, definition.name)
        and context.validation_definitions.get(definition.name).id == definition.id
        for definition in checkpoint.validation_definitions
    )
    return ids_current and stored == [plan.name for plan in plans]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="gate config YAML"
    )
    parser.add_argument("--check", action="store_true", help="only report whether gx/ is stale")
    args = parser.parse_args(argv)
    config = load_gate_config(args.config)
    gx_dir = args.config.resolve().parent
    if args.check:
        stale = stale_objects(get_file_context(gx_dir), config)
        for name in stale:
            log.error("out of date with %s: %s", args.config, name)
        return 1 if stale else 0
    written = write_context(config, gx_dir)
    log.info("gx/ is up to date (%s)", ", ".join(written) if written else "nothing changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
