{#- Usage metrics per account and as-of date, long format. Only usage dated on or before the
    as-of date is read. An account with no usage in a window has 0 active days (a fact, not
    missing data); ratios with a zero denominator are null (N/A). -#}
{{ config(enabled=raw_table_present('product_usage.feature_usage')) }}
{%- set usage_window = var('usage_window_days') %}
{%- set lookback_days = [2 * usage_window, var('feature_breadth_window_days')] | max %}

with

feature_usage as (

    select * from {{ ref('stg_product_usage__feature_usage') }}

),

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

active_accounts as (

    select * from {{ ref('int_active_accounts') }}

),

as_of_dates as (

    select * from {{ ref('int_as_of_dates') }}

),

usage_in_lookback as (

    select
        subscriptions.account_id,
        as_of_dates.as_of_date,
        feature_usage.usage_date,
        feature_usage.feature_name,
        feature_usage.usage_count,
        feature_usage.error_count,
        {{ days_between('feature_usage.usage_date', 'as_of_dates.as_of_date') }}
            as days_before_as_of

    from feature_usage
    inner join subscriptions
        on feature_usage.subscription_id = subscriptions.subscription_id
    inner join as_of_dates
        on
            feature_usage.usage_date <= as_of_dates.as_of_date
            and feature_usage.usage_date
            > {{ dbt.dateadd('day', -lookback_days, 'as_of_dates.as_of_date') }}

),

-- Usage per account, as-of date and day, then per account and as-of date: plain sums that spill
-- to disk (count(distinct) over every usage row in the windows needed about twice the memory: at
-- 1M accounts, 1.5 GB was too little for it, and these run in 1 GB).
usage_days as (

    select
        account_id,
        as_of_date,
        usage_date,
        min(days_before_as_of) as days_before_as_of,
        sum(usage_count) as usage_count,
        sum(error_count) as error_count

    from usage_in_lookback
    group by account_id, as_of_date, usage_date

),

usage_aggregated as (

    select
        account_id,
        as_of_date,
        count(case when days_before_as_of < {{ usage_window }} then 1 end) as active_days,
        sum(case
            when days_before_as_of < {{ usage_window }} then usage_count else 0
        end) as usage_count_current,
        sum(case
            when
                days_before_as_of >= {{ usage_window }}
                and days_before_as_of < {{ 2 * usage_window }}
                then usage_count
            else 0
        end) as usage_count_previous,
        sum(case
            when days_before_as_of < {{ usage_window }} then error_count else 0
        end) as error_count_current

    from usage_days
    group by account_id, as_of_date

),

-- Each feature an account used, with its most recent use, then how many in the breadth window.
account_features as (

    select
        account_id,
        as_of_date,
        feature_name,
        min(days_before_as_of) as days_before_as_of

    from usage_in_lookback
    group by account_id, as_of_date, feature_name

),

feature_breadth as (

    select
        account_id,
        as_of_date,
        count(case
            when days_before_as_of < {{ var('feature_breadth_window_days') }} then 1
        end) as features_used

    from account_features
    group by account_id, as_of_date

),

usage_metrics as (

    select
        active_accounts.account_id,
        active_accounts.as_of_date,
        coalesce(usage_aggregated.active_days, 0) as active_days,
        100.0 * (usage_aggregated.usage_count_current - usage_aggregated.usage_count_previous)
        / nullif(usage_aggregated.usage_count_previous, 0) as usage_trend_pct,
        coalesce(feature_breadth.features_used, 0) as feature_breadth,
        100.0 * usage_aggregated.error_count_current
        / nullif(usage_aggregated.usage_count_current, 0) as error_rate_pct,
        1.0 * coalesce(usage_aggregated.usage_count_current, 0)
        / nullif(active_accounts.seats, 0) as usage_per_seat

    from active_accounts
    left join usage_aggregated
        on
            active_accounts.account_id = usage_aggregated.account_id
            and active_accounts.as_of_date = usage_aggregated.as_of_date
    left join feature_breadth
        on
            active_accounts.account_id = feature_breadth.account_id
            and active_accounts.as_of_date = feature_breadth.as_of_date

),

final as (
    {{ unpivot_metrics('usage_metrics', [
        'active_days', 'usage_trend_pct', 'feature_breadth', 'error_rate_pct', 'usage_per_seat',
    ]) }}
)

select * from final
