{#- Every score ever built, one row per account per as-of date. Re-scoring a date replaces that
    date's rows (delete+insert on the key), so backfills are idempotent. The refresh resets this
    table from the published copy before each build, so an unpublished (failed) run never stays
    in history. -#}
{{ config(on_schema_change='append_new_columns') }}

-- Same columns as the model it keeps (its contract lists them too): a column added there is
-- added to the existing table (on_schema_change).
-- noqa: disable=AM04
with

scores as (

    select * from {{ ref('customer_health_scores') }}

),

final as (

    select * from scores

)

select * from final
