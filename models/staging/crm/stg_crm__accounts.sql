with

base as (

    select * from {{ ref('base_crm__accounts') }}

),

final as (

    select
        account_id,
        account_name,
        industry,
        country,
        signup_date,
        referral_source,
        initial_plan_tier,
        initial_seats,
        is_initial_trial,
        parent_account_id

    from base
    where quarantine_reason is null

)

select * from final
