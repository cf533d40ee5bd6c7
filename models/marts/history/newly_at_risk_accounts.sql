{#- Accounts whose status fell from healthy on the latest scored date, with why: the outreach list
    for customer-success managers. Only the latest date, so a table, not incremental like the rest
    of the folder. -#}
{{ config(materialized='table') }}

with

changes as (

    select * from {{ ref('customer_health_score_changes') }}

),

latest as (

    select max(as_of_date) as as_of_date from changes

),

final as (

    select
        changes.account_id,
        changes.as_of_date,
        changes.account_name,
        changes.segment,
        changes.previous_status,
        changes.status,
        changes.previous_health_score,
        changes.health_score,
        changes.score_change,
        changes.change_explanation,
        changes.driver_1

    from changes
    inner join latest
        on changes.as_of_date = latest.as_of_date
    where changes.is_newly_at_risk

)

select * from final
