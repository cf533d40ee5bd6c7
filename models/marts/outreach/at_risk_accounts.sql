{#- Outreach list: accounts in any status but the best one of the health_statuses seed (at risk,
    unhealthy), largest annual revenue at risk (MRR x var arr_months) first, with the reasons in
    words. -#}

with

scores as (

    select * from {{ ref('customer_health_scores') }}

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
        scores.health_score,
        scores.grade,
        scores.status,
        scores.mrr_amount * {{ var('arr_months') }} as arr_at_risk,
        -- bigint on every engine (Spark's row_number() is an int).
        cast(row_number() over (
            partition by scores.as_of_date
            order by scores.mrr_amount desc, scores.health_score asc, scores.account_id asc
        ) as bigint) as outreach_rank,
        {{ dbt.concat([
            "'Score '", number_text("scores.health_score"),
            "' ('", 'scores.grade', "'): '",
            "coalesce(scores.driver_1, 'no single metric stands out')",
            "coalesce(" ~ dbt.concat(["'; '", 'scores.driver_2']) ~ ", '')",
            "coalesce(" ~ dbt.concat(["'; '", 'scores.driver_3']) ~ ", '')",
        ]) }} as reason

    from scores
    inner join ranked_statuses
        on scores.status = ranked_statuses.status
    where not ranked_statuses.is_best_status

)

select * from final
