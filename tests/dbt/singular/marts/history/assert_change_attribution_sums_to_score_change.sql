-- The per-metric point changes explain the whole score change: they sum to it, up to the
-- rounding of the two published scores to one decimal (at most 0.05 each).
with

attribution as (

    select
        account_id,
        as_of_date,
        sum(points_change) as explained_change
    from {{ ref('customer_health_score_change_attribution') }}
    group by account_id, as_of_date

)

select
    changes.account_id,
    changes.as_of_date,
    changes.health_score - changes.previous_health_score as score_change,
    attribution.explained_change
from {{ ref('customer_health_score_changes') }} as changes
inner join attribution
    on
        changes.account_id = attribution.account_id
        and changes.as_of_date = attribution.as_of_date
where
    abs(changes.health_score - changes.previous_health_score - attribution.explained_change)
    > 0.1001
