{#- Outreach list: accounts in the best status of the health_statuses seed (healthy) using their
    seats heavily (metric var upsell_usage_metric, usage per seat, of at least var
    upsell_min_usage_per_seat), candidates for more seats or a higher tier. Largest annual
    revenue first (the largest expansion), then the heaviest usage per seat, with what changed
    since the previous scored date (customer_health_score_changes, and the usage metric's
    previous value from customer_health_score_change_attribution); capped to
    var outreach_capacity's upsell_candidates entry (macro capped_worklist). -#}

with

scores as (

    select * from {{ ref('customer_health_scores') }}

),

components as (

    select * from {{ ref('customer_health_score_components') }}
    {#- null: the deployment has no such metric, and no such list (it stays empty) #}
    where metric_name = {{ sql_literal(var('upsell_usage_metric')) }}

),

changes as (

    select * from {{ ref('customer_health_score_changes') }}

),

previous_usage as (

    select * from {{ ref('customer_health_score_change_attribution') }}
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

matches as (

    select
        scores.account_id,
        scores.as_of_date,
        scores.account_name,
        scores.segment,
        scores.plan_tier,
        scores.health_score,
        scores.grade,
        scores.mrr_amount * {{ var('arr_months') }} as annual_revenue,
        components.metric_value as usage_per_seat,
        {{ dbt.concat([
            "'Score '", number_text("scores.health_score"),
            "' ('", 'scores.grade', "', '", 'scores.status', "') on the '", 'scores.plan_tier',
            "' plan; '", 'components.display_name', "': '",
            'components.value_text', "' ('", 'components.band_label', "')'",
        ]) }} as reason,
        changes.previous_as_of_date,
        changes.previous_health_score,
        changes.score_change,
        changes.previous_grade,
        case
            when changes.previous_as_of_date is not null
                then not coalesce(
                    previous_statuses.is_best_status
                    and previous_usage.previous_metric_value
                    >= {{ var('upsell_min_usage_per_seat') }},
                    false
                )
        end as is_newly_listed

    from scores
    inner join components
        on
            scores.account_id = components.account_id
            and scores.as_of_date = components.as_of_date
    inner join ranked_statuses
        on scores.status = ranked_statuses.status
    left join changes
        on
            scores.account_id = changes.account_id
            and scores.as_of_date = changes.as_of_date
    left join ranked_statuses as previous_statuses
        on changes.previous_status = previous_statuses.status
    left join previous_usage
        on
            scores.account_id = previous_usage.account_id
            and scores.as_of_date = previous_usage.as_of_date
    where
        ranked_statuses.is_best_status
        and components.metric_value >= {{ var('upsell_min_usage_per_seat') }}

),

final as (

    {{ capped_worklist(
        'matches',
        'annual_revenue desc, usage_per_seat desc',
        var('outreach_capacity').get('upsell_candidates'),
    ) }}

)

select * from final
