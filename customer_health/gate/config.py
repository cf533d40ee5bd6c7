"""Read and check gx/gate_config.yml: the quality gate's thresholds and severities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from customer_health.errors import BadInputError
from customer_health.gate.dbt_manifest import DbtManifest
from customer_health.settings import PROJECT_DIR, PUBLISHED_SCHEMA

GX_DIR = PROJECT_DIR / "gx"
DEFAULT_CONFIG_PATH = GX_DIR / "gate_config.yml"

BLOCKING = "blocking"
WARNING = "warning"
SEVERITIES = (BLOCKING, WARNING)

# Every check the gate knows, with the parameters it needs (besides `severity`). Each needs the
# run date, the as-of date, the published run or a tolerated share: rules every row must obey
# are dbt tests (gx/README.md maps the gate's former checks to them).
INPUT_CHECKS: dict[str, tuple[str, ...]] = {
    "schema": (),
    "quarantined_share": ("max_share",),
    "dates_not_too_old": ("earliest",),
    "dates_not_in_future": ("tolerance_days",),
    "dates_after_as_of": (),
    "freshness": ("max_age_days",),
}
SCORE_CHECKS: dict[str, tuple[str, ...]] = {
    "coverage": ("min_share",),
    "score_spread": ("min_stdev",),
    "as_of_not_in_future": ("tolerance_days",),
    "unhealthy_share": ("max_share",),
}
SOURCE_KEYS = ("base", "staged", "dates", "freshness_column", "checks")
DRIFT_CHECKS: dict[str, tuple[str, ...]] = {
    "row_count_drop": ("max_drop_share",),
    "mean_score_change": ("max_change",),
    "unhealthy_share_change": ("max_change",),
}


class GateConfigError(BadInputError):
    """gx/gate_config.yml is missing, malformed or incomplete."""


@dataclass(frozen=True)
class Check:
    """One configured check: its name, severity and thresholds."""

    name: str
    severity: str
    params: Mapping[str, Any]

    @property
    def blocking(self) -> bool:
        return self.severity == BLOCKING

    def __getitem__(self, key: str) -> Any:
        return self.params[key]


@dataclass(frozen=True)
class SourceConfig:
    """A raw source as staged by dbt: its base (all rows) and staged (clean rows) dbt models."""

    name: str
    base: str
    staged: str
    dates: tuple[str, ...]
    freshness_column: str | None
    checks: Mapping[str, Check]


@dataclass(frozen=True)
class CandidateConfig:
    scores: str  # the scores dbt model
    score_checks: Mapping[str, Check]


@dataclass(frozen=True)
class DriftConfig:
    history: str  # the dbt model of the score history: one row per account and scored date
    checks: Mapping[str, Check]


@dataclass(frozen=True)
class GateConfig:
    path: Path
    example_rows: int
    keep_runs: int
    sources: tuple[SourceConfig, ...]
    candidate: CandidateConfig
    drift: DriftConfig

    def scores_relation(self, manifest: DbtManifest) -> str:
        return manifest.model(self.candidate.scores).relation

    def published_scores_relation(self, manifest: DbtManifest) -> str:
        """Where publishing copies the scores model: schema `health`, same relation name."""
        return _published(self.scores_relation(manifest))

    def history_relation(self, manifest: DbtManifest) -> str:
        """The candidate score history: the dates this build scored."""
        return manifest.model(self.drift.history).relation

    def published_history_relation(self, manifest: DbtManifest) -> str:
        """Every date ever published."""
        return _published(self.history_relation(manifest))


def _published(relation: str) -> str:
    return f"{PUBLISHED_SCHEMA}.{relation.split('.')[-1]}"


def load_gate_config(path: Path = DEFAULT_CONFIG_PATH) -> GateConfig:
    """Parse and validate the gate configuration; raise GateConfigError naming the problem."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise GateConfigError(f"cannot read gate configuration {path}: {error}") from error
    if not isinstance(raw, dict):
        raise GateConfigError(f"{path}: expected a mapping at the top level")
    input_defaults = _section(raw, "input_checks", path)
    sources = tuple(
        _source(name, spec, input_defaults, path)
        for name, spec in _section(raw, "sources", path).items()
    )
    if not sources:
        raise GateConfigError(f"{path}: `sources` lists no source")
    report = _section(raw, "report", path)
    return GateConfig(
        path=Path(path),
        example_rows=int(report.get("example_rows", 5)),
        keep_runs=int(report.get("keep_runs", 10)),
        sources=sources,
        candidate=_candidate(_section(raw, "candidate", path), path),
        drift=_drift(_section(raw, "drift", path), path),
    )


def _section(raw: Mapping[str, Any], key: str, path: Path) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise GateConfigError(f"{path}: `{key}` must be a mapping")
    return value


def _checks(
    raw: Mapping[str, Any], known: Mapping[str, tuple[str, ...]], where: str, path: Path
) -> dict[str, Check]:
    """Every known check, each with a valid severity and all its parameters."""
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise GateConfigError(
            f"{path}: {where}: unknown check(s) {unknown}; known: {sorted(known)} (rules every "
            "row must obey are dbt tests: see gx/README.md)"
        )
    checks = {}
    for name, required in known.items():
        spec = raw.get(name)
        if not isinstance(spec, Mapping):
            raise GateConfigError(f"{path}: {where}.{name} is missing (severity and thresholds)")
        severity = spec.get("severity")
        if severity not in SEVERITIES:
            raise GateConfigError(
                f"{path}: {where}.{name}.severity must be one of {SEVERITIES}, not {severity!r}"
            )
        missing = [param for param in required if spec.get(param) is None]
        if missing:
            raise GateConfigError(f"{path}: {where}.{name} lacks {missing}")
        params = {key: value for key, value in spec.items() if key != "severity"}
        checks[name] = Check(name=name, severity=severity, params=params)
    return checks


def _source(
    name: str, spec: Mapping[str, Any], defaults: Mapping[str, Any], path: Path
) -> SourceConfig:
    if not isinstance(spec, Mapping):
        raise GateConfigError(f"{path}: sources.{name} must be a mapping")
    unknown = sorted(set(spec) - set(SOURCE_KEYS))
    if unknown:
        raise GateConfigError(
            f"{path}: sources.{name}: unknown key(s) {unknown}; known: {list(SOURCE_KEYS)} "
            "(relations and columns come from the dbt manifest)"
        )
    for required in ("base", "staged"):
        if not spec.get(required):
            raise GateConfigError(f"{path}: sources.{name}.{required} is missing")
    overrides = spec.get("checks") or {}
    merged = {
        check: {**defaults.get(check, {}), **overrides.get(check, {})}
        for check in set(defaults) | set(overrides)
    }
    return SourceConfig(
        name=name,
        base=spec["base"],
        staged=spec["staged"],
        dates=tuple(spec.get("dates") or ()),
        freshness_column=spec.get("freshness_column"),
        checks=_checks(merged, INPUT_CHECKS, f"sources.{name}.checks", path),
    )


def _candidate(spec: Mapping[str, Any], path: Path) -> CandidateConfig:
    if not spec.get("scores"):
        raise GateConfigError(f"{path}: candidate.scores is missing")
    return CandidateConfig(
        scores=spec["scores"],
        score_checks=_checks(
            _section(spec, "score_checks", path), SCORE_CHECKS, "candidate.score_checks", path
        ),
    )


def _drift(spec: Mapping[str, Any], path: Path) -> DriftConfig:
    if not spec.get("history"):
        raise GateConfigError(f"{path}: drift.history is missing")
    return DriftConfig(
        history=spec["history"],
        checks=_checks(_section(spec, "checks", path), DRIFT_CHECKS, "drift.checks", path),
    )
