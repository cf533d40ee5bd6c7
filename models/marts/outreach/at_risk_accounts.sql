{#- Outreach list: at-risk and unhealthy accounts, largest annual revenue at risk first, with the
    reasons in words. -#}

with

scores as (

    select * from {{ ref('customer_health_scores') }}

),

health_statuses as (

    select * from {{ ref('health_statuses') }}

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
        scores.mrr_amount * 12 as arr_at_risk,
        row_number() over (
            partition by scores.as_of_date
            order by scores.mrr_amount desc, scores.health_score asc, scores.account_id asc
        ) as outreach_rank,
        {{ dbt.concat([
            "'Score '", number_text("scores.health_score"),
            "' ('", 'scores.grade', "'): '",
            "coalesce(scores.driver_1, 'no single metric stands out')",
            "coalesce(" ~ dbt.concat(["'; '", 'scores.driver_2']) ~ ", '')",
            "coalesce(" ~ dbt.concat(["'; '", 'scores.driver_3']) ~ ", '')",
        ]) }} as reason

    from scores
    inner join health_statuses
        on scores.status = health_statuses.status
    where health_statuses.status_rank > 1

)

select * from final
