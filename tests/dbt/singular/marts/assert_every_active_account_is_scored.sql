-- One score per active account and as-of date: no active account is left out of the scores, and
-- no score belongs to an account that was not active.
with

active_accounts as (

    select
        account_id,
        as_of_date
    from {{ ref('int_active_accounts') }}

),

scores as (

    select
        account_id,
        as_of_date
    from {{ ref('customer_health_scores') }}

)

select
    coalesce(active_accounts.account_id, scores.account_id) as account_id,
    coalesce(active_accounts.as_of_date, scores.as_of_date) as as_of_date,
    active_accounts.account_id is not null as is_active,
    scores.account_id is not null as is_scored
from active_accounts
full outer join scores
    on
        active_accounts.account_id = scores.account_id
        and active_accounts.as_of_date = scores.as_of_date
where active_accounts.account_id is null or scores.account_id is null
