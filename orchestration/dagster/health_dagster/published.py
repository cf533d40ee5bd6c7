"""Which dbt models the publish copies to schema `health`, and their Dagster asset keys."""

from __future__ import annotations

from dagster import AssetKey, AssetsDefinition
from dagster_dbt import get_asset_key_for_model

from customer_health.dbt_project import PUBLISHED_MODELS
from customer_health.settings import PUBLISHED_SCHEMA


def published_models() -> list[str]:
    """The published dbt models: those marked with meta `published` (read from the manifest)."""
    return [model for _, model in PUBLISHED_MODELS]


def mart_key(dbt_assets: AssetsDefinition, model: str) -> AssetKey:
    """The asset key dagster-dbt gives the built (candidate) model, e.g. marts/<model>."""
    return get_asset_key_for_model([dbt_assets], model)


def published_key(model: str) -> AssetKey:
    """The asset key of the published copy BI reads: health/<model>."""
    return AssetKey([PUBLISHED_SCHEMA, model])
