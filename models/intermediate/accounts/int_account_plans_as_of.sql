{#- Which subscription is an account's current plan on a date. Accounts hold overlapping open
    subscriptions, so each new subscription is read as superseding the earlier ones: the plan on a
    date is the subscription with the latest start on or before that date that has not ended by
    then. Resolved on two reference dates per as-of date: the as-of date itself and the baseline
    the MRR change is measured against. -#}

with

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

as_of_dates as (

    select * from {{ ref('int_as_of_dates') }}

),

reference_dates as (

    select
        as_of_date,
        'as_of' as reference_point,
        as_of_date as reference_date
    from as_of_dates

    union all

    select
        as_of_date,
        'mrr_baseline' as reference_point,
        {{ dbt.dateadd('day', -var('mrr_change_window_days'), 'as_of_date') }} as reference_date
    from as_of_dates

),

active_subscriptions as (

    select
        reference_dates.as_of_date,
        reference_dates.reference_point,
        reference_dates.reference_date,
        subscriptions.account_id,
        subscriptions.subscription_id,
        subscriptions.start_date,
        subscriptions.plan_tier,
        subscriptions.seats,
        subscriptions.mrr_amount,
        subscriptions.is_trial,
        subscriptions.is_auto_renew,
        subscriptions.billing_frequency,
        row_number() over (
            partition by
                subscriptions.account_id,
                reference_dates.as_of_date,
                reference_dates.reference_point
            order by subscriptions.start_date desc, subscriptions.subscription_id desc
        ) as recency_rank

    from subscriptions
    inner join reference_dates
        on
            subscriptions.start_date <= reference_dates.reference_date
            and (
                subscriptions.end_date is null
                or subscriptions.end_date > reference_dates.reference_date
            )

),

final as (

    select
        account_id,
        as_of_date,
        reference_point,
        reference_date,
        subscription_id,
        start_date,
        plan_tier,
        seats,
        mrr_amount,
        is_trial,
        is_auto_renew,
        billing_frequency

    from active_subscriptions
    where recency_rank = 1

)

select * from final
