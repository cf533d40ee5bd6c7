{#- The scores of the dates this build scores, one row per account per as-of date: what a publish
    puts in place of those dates in the published history (health.customer_health_score_history,
    which holds every date ever published and which the change models read for the other dates).
    A view: these rows are the build's scores, not a second copy of them. -#}
{{ config(materialized='view') }}

-- Same columns as the model it keeps (its contract lists them too).
-- noqa: disable=AM04
with

scores as (

    select * from {{ ref('customer_health_scores') }}

),

final as (

    select * from scores

)

select * from final
