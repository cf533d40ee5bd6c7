-- Every published score is explained by its components: the points they contribute add up to
-- health_score, up to its rounding to one decimal.
with

explained as (

    select
        account_id,
        as_of_date,
        sum(coalesce(points_contributed, 0)) as points_contributed
    from {{ ref('customer_health_score_components') }}
    group by account_id, as_of_date

)

select
    scores.account_id,
    scores.as_of_date,
    scores.health_score,
    explained.points_contributed
from {{ ref('customer_health_scores') }} as scores
left join explained
    on
        scores.account_id = explained.account_id
        and scores.as_of_date = explained.as_of_date
where
    explained.points_contributed is null
    or abs(scores.health_score - explained.points_contributed) > 0.1
