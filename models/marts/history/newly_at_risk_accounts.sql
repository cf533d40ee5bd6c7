{#- Accounts whose status fell from healthy on the latest scored date, with why: the outreach list
    for customer-success managers. The latest scored date is the latest of the dates this build
    scores and the published ones: customer_health_score_changes holds it, as it rebuilds every
    date from the build's first one on (unless the build scored no account at all). Only that
    date, so a publish replaces this list whole. Largest annual revenue at risk (MRR x var
    arr_months) first, then the largest fall; capped to var outreach_capacity's
    newly_at_risk_accounts entry (macro capped_worklist). -#}

with

changes as (

    select * from {{ ref('customer_health_score_changes') }}

),

scored_dates as (

    select as_of_date from {{ ref('customer_health_score_history') }}
    union all
    select published.as_of_date
    from {{ published_history('customer_health_score_history') }} as published

),

latest as (

    select max(as_of_date) as as_of_date from scored_dates

),

matches as (

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
        changes.driver_1,
        changes.previous_grade,
        changes.grade,
        changes.mrr_amount * {{ var('arr_months') }} as arr_at_risk

    from changes
    inner join latest
        on changes.as_of_date = latest.as_of_date
    where changes.is_newly_at_risk

),

final as (

    {{ capped_worklist(
        'matches',
        'arr_at_risk desc, score_change asc',
        var('outreach_capacity').get('newly_at_risk_accounts'),
    ) }}

)

select * from final
