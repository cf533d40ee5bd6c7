{#- Outreach list: accounts in the best status of the health_statuses seed (healthy) using their
    seats heavily (metric var upsell_usage_metric, usage per seat, of at least var
    upsell_min_usage_per_seat), candidates for more seats or a higher tier. -#}

with

scores as (

    select * from {{ ref('customer_health_scores') }}

),

components as (

    select * from {{ ref('customer_health_score_components') }}
    {#- null: the deployment has no such metric, and no such list (it stays empty) #}
    where metric_name = {{ sql_literal(var('upsell_usage_metric')) }}

),

health_statuses as (

    select * from {{ ref('health_statuses') }}

),

ranked_statuses as (

    select
        status,
        status_rank = min(status_rank) over () as is_best_status

    from health_statuses

),

final as (

    select
        scores.account_id,
        scores.as_of_date,
        scores.account_name,
        scores.segment,
        scores.plan_tier,
        scores.health_score,
        scores.grade,
        components.metric_value as usage_per_seat,
        {{ dbt.concat([
            "'Score '", number_text("scores.health_score"),
            "' ('", 'scores.grade', "', '", 'scores.status', "') on the '", 'scores.plan_tier',
            "' plan; '", 'components.display_name', "': '",
            format_metric_value('components.metric_value', 'components.unit'),
            "' ('", 'components.band_label', "')'",
        ]) }} as reason

    from scores
    inner join components
        on
            scores.account_id = components.account_id
            and scores.as_of_date = components.as_of_date
    inner join ranked_statuses
        on scores.status = ranked_statuses.status
    where
        ranked_statuses.is_best_status
        and components.metric_value >= {{ var('upsell_min_usage_per_seat') }}

)

select * from final
