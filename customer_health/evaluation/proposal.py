"""Adopt a reviewed calibration proposal: copy proposed/scoring_bands.csv and
proposed/segment_weights.csv over the deployment's active seeds, and say what changed.

The proposal is checked first as the seed tests would check it (bands contiguous per metric and
segment, points within 0-100; every segment's weights summing to 1), and nothing is copied when
it fails. The text lists, per metric, the bands added, removed and changed (keyed by segment and
lower bound) and, per segment, every weight that moved. `health adopt-proposal` prints it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from customer_health.errors import BadInputError
from customer_health.evaluation.bands import (
    Band,
    bands_by_metric,
    contiguity_problems,
    format_number,
    read_bands,
)
from customer_health.evaluation.calibration import format_weight, read_weights
from customer_health.evaluation.options import (
    BANDS_SEED,
    PROPOSED_FOLDER,
    PROPOSED_SEEDS,
    WEIGHTS_SEED,
    active_seed,
)
from customer_health.evaluation.rescoring import Weights

WEIGHT_TOLERANCE = 1e-6


def default_proposal_dir() -> Path:
    return active_seed(PROPOSED_FOLDER)


def band_text(band: Band) -> str:
    low = "-inf" if band.lower_bound is None else format_number(band.lower_bound)
    high = "inf" if band.upper_bound is None else format_number(band.upper_bound)
    points = format_number(band.points_at_lower)
    if band.points_at_upper != band.points_at_lower:
        points += f"-{format_number(band.points_at_upper)}"
    return f"{band.segment} [{low}, {high}) {points} points \"{band.band_label}\""


def bands_diff(active: list[Band], proposed: list[Band]) -> list[str]:
    """Per metric whose bands differ: a summary line and one line per band added (+),
    removed (-) or changed (~)."""
    lines = []
    before, after = bands_by_metric(active), bands_by_metric(proposed)
    for metric in [*before, *(m for m in after if m not in before)]:
        old = {(b.segment, b.lower_bound): b for b in before.get(metric, [])}
        new = {(b.segment, b.lower_bound): b for b in after.get(metric, [])}
        added = [new[k] for k in new if k not in old]
        removed = [old[k] for k in old if k not in new]
        changed = [(old[k], new[k]) for k in new if k in old and old[k] != new[k]]
        if not (added or removed or changed):
            continue
        lines.append(f"{metric}: {len(old)} -> {len(new)} bands ({len(added)} added, "
                     f"{len(removed)} removed, {len(changed)} changed)")
        lines += [f"  + {band_text(b)}" for b in added]
        lines += [f"  - {band_text(b)}" for b in removed]
        lines += [f"  ~ {band_text(a)} -> {band_text(b)}" for a, b in changed]
    return lines


def weights_diff(active: Weights, proposed: Weights) -> list[str]:
    """Per segment whose weights differ: the metrics whose weight moved, old -> new."""
    lines = []
    for segment in [*active, *(s for s in proposed if s not in active)]:
        old, new = active.get(segment, {}), proposed.get(segment, {})
        moves = [f"{m} {format_weight(old.get(m, 0.0))} -> {format_weight(new.get(m, 0.0))}"
                 for m in [*old, *(m for m in new if m not in old)]
                 if abs(old.get(m, 0.0) - new.get(m, 0.0)) > WEIGHT_TOLERANCE]
        if moves:
            lines.append(f"{segment}: " + ", ".join(moves))
    return lines


# The tolerance of the weights_sum_to_one test on the segment_weights seed (its default in
# macros/generic_tests/weights_sum_to_one.sql): a proposal adopted here must pass that test.
WEIGHT_SUM_TOLERANCE = 0.000001


def weight_problems(weights: Weights) -> list[str]:
    return [f"{segment}: weights sum to {sum(w.values()):.4f}, not 1"
            for segment, w in weights.items()
            if abs(sum(w.values()) - 1) > WEIGHT_SUM_TOLERANCE]


def proposal_changes(proposal_dir: Path, seeds_dir: Path) -> tuple[list[str], list[str]]:
    """The proposed seeds found in proposal_dir and the text of what they change; BadInputError
    when there is none or one would fail the seed tests."""
    found = [name for name in PROPOSED_SEEDS if (proposal_dir / name).is_file()]
    if not found:
        raise BadInputError(f"no proposal in {proposal_dir}: run `health calibrate` first")
    lines: list[str] = []
    if BANDS_SEED in found:
        proposed = read_bands(proposal_dir / BANDS_SEED)
        check(proposal_dir / BANDS_SEED, contiguity_problems(proposed))
        diff = bands_diff(read_bands(seeds_dir / BANDS_SEED), proposed)
        lines += [f"{BANDS_SEED}:", *(f"  {line}" for line in diff or ["no change"])]
    if WEIGHTS_SEED in found:
        proposed_weights, _ = read_weights(proposal_dir / WEIGHTS_SEED)
        check(proposal_dir / WEIGHTS_SEED, weight_problems(proposed_weights))
        diff = weights_diff(read_weights(seeds_dir / WEIGHTS_SEED)[0], proposed_weights)
        lines += [f"{WEIGHTS_SEED}:", *(f"  {line}" for line in diff or ["no change"])]
    return found, lines


def check(path: Path, problems: list[str]) -> None:
    if problems:
        raise BadInputError(f"{path} would fail the seed tests, nothing adopted:\n"
                            + "\n".join(problems))


def adopt(proposal_dir: Path | None = None, seeds_dir: Path | None = None,
          dry_run: bool = False) -> str:
    """Copy the proposal's seeds over the active ones (unless dry_run); return what changed."""
    proposal_dir = proposal_dir or default_proposal_dir()
    seeds_dir = seeds_dir or active_seed(WEIGHTS_SEED).parent
    found, lines = proposal_changes(proposal_dir, seeds_dir)
    if not dry_run:
        for name in found:
            shutil.copyfile(proposal_dir / name, seeds_dir / name)
    verb = "would adopt" if dry_run else "adopted"
    return "\n".join([f"{verb} {', '.join(found)} from {proposal_dir} into {seeds_dir}", *lines,
                      *([] if dry_run else ["next: `health refresh`, backfill and backtest"])])
