{#- The scored population: accounts that had signed up and held an active subscription on the
    as-of date, with their current plan and tenure. -#}

with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

account_plans as (

    select * from {{ ref('int_account_plans_as_of') }}
    where reference_point = 'as_of'

),

final as (

    select
        accounts.account_id,
        account_plans.as_of_date,
        accounts.account_name,
        accounts.signup_date,
        {{ days_between('accounts.signup_date', 'account_plans.as_of_date') }}
            as tenure_days,
        account_plans.subscription_id as current_subscription_id,
        account_plans.plan_tier,
        account_plans.seats,
        account_plans.mrr_amount,
        account_plans.is_trial,
        account_plans.is_auto_renew,
        account_plans.billing_frequency

    from accounts
    inner join account_plans
        on accounts.account_id = account_plans.account_id
    where accounts.signup_date <= account_plans.as_of_date

)

select * from final
