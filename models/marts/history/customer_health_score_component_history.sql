{#- Every metric component ever built, one row per account, as-of date and metric; replaced per
    as-of date like customer_health_score_history. -#}
{{ config(on_schema_change='append_new_columns') }}

-- Same columns as the model it keeps (its contract lists them too): a column added there is
-- added to the existing table (on_schema_change).
-- noqa: disable=AM04
with

components as (

    select * from {{ ref('customer_health_score_components') }}

),

final as (

    select * from components

)

select * from final
