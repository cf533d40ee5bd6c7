{#- The metric components of the dates this build scores, one row per account, as-of date and
    metric; published in place of those dates like customer_health_score_history. A view, for the
    same reason. -#}
{{ config(materialized='view') }}

-- Same columns as the model it keeps (its contract lists them too).
-- noqa: disable=AM04
with

components as (

    select * from {{ ref('customer_health_score_components') }}

),

final as (

    select * from components

)

select * from final
