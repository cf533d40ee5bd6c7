{#- Billing metrics per account and as-of date, long format, from the current plan (see
    int_account_plans_as_of) and subscription changes started on or before the as-of date. -#}

with

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

active_accounts as (

    select * from {{ ref('int_active_accounts') }}

),

baseline_plans as (

    select * from {{ ref('int_account_plans_as_of') }}
    where reference_point = 'mrr_baseline'

),

recent_downgrades as (

    select
        active_accounts.account_id,
        active_accounts.as_of_date,
        count(case when subscriptions.is_downgrade then 1 end) as downgrade_count,
        count(case when subscriptions.is_downgrade is null then 1 end) as unknown_count

    from active_accounts
    inner join subscriptions
        on
            active_accounts.account_id = subscriptions.account_id
            and active_accounts.as_of_date >= subscriptions.start_date
            and {{
                dbt.dateadd('day', -var('downgrade_window_days'), 'active_accounts.as_of_date')
            }} < subscriptions.start_date
    group by active_accounts.account_id, active_accounts.as_of_date

),

billing_metrics as (

    select
        active_accounts.account_id,
        active_accounts.as_of_date,
        active_accounts.mrr_amount as current_mrr,
        100.0 * (active_accounts.mrr_amount - baseline_plans.mrr_amount)
        / nullif(baseline_plans.mrr_amount, 0) as mrr_change_pct,
        -- a subscription without a downgrade flag (the column is optional) makes it unknown
        case
            when recent_downgrades.unknown_count > 0 then null
            else coalesce(recent_downgrades.downgrade_count, 0)
        end as recent_downgrades,
        case when active_accounts.is_auto_renew then 0 else 1 end as auto_renew_off,
        case when active_accounts.is_trial then 1 else 0 end as on_trial

    from active_accounts
    left join baseline_plans
        on
            active_accounts.account_id = baseline_plans.account_id
            and active_accounts.as_of_date = baseline_plans.as_of_date
    left join recent_downgrades
        on
            active_accounts.account_id = recent_downgrades.account_id
            and active_accounts.as_of_date = recent_downgrades.as_of_date

),

final as (
    {{ unpivot_metrics('billing_metrics', [
        'current_mrr', 'mrr_change_pct', 'recent_downgrades', 'auto_renew_off', 'on_trial',
    ]) }}
)

select * from final
