with

base as (

    select * from {{ ref('base_billing__subscriptions') }}

),

final as (

    select
        subscription_id,
        account_id,
        start_date,
        end_date,
        plan_tier,
        seats,
        mrr_amount,
        arr_amount,
        is_trial,
        is_upgrade,
        is_downgrade,
        billing_frequency,
        is_auto_renew

    from base
    where quarantine_reason is null

)

select * from final
