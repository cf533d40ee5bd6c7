{#- Engagement metrics per account and as-of date, long format, from engagement events dated on
    or before the as-of date. Two-way events are those of var two_way_event_types (the customer
    clicked, replied, visited, held a meeting, posted). No two-way event in the look-back (var
    engagement_recency_cap_days) reads as that many days; ratios with nothing to divide by
    (no emails sent, no meetings, no two-way events in the earlier trend window) are N/A. -#}
{{ config(enabled=raw_table_present('engagement.engagement_events')) }}
{%- set window = var('engagement_window_days') %}
{%- set trend_window = var('engagement_trend_window_days') %}
{%- set recency_cap = var('engagement_recency_cap_days') %}
{%- set lookback_days = [window, 2 * trend_window, recency_cap] | max %}

with

events as (

    select * from {{ ref('stg_engagement__events') }}

),

active_accounts as (

    select * from {{ ref('int_active_accounts') }}

),

events_in_lookback as (

    select
        active_accounts.account_id,
        active_accounts.as_of_date,
        events.channel,
        events.event_type,
        events.is_two_way,
        {{ days_between('events.occurred_date', 'active_accounts.as_of_date') }}
            as days_before_as_of

    from active_accounts
    inner join events
        on
            active_accounts.account_id = events.account_id
            and active_accounts.as_of_date >= events.occurred_date
            and {{
                dbt.dateadd('day', -lookback_days, 'active_accounts.as_of_date')
            }} < events.occurred_date

),

events_aggregated as (

    select
        account_id,
        as_of_date,
        min(case
            when is_two_way and days_before_as_of < {{ recency_cap }} then days_before_as_of
        end) as days_since_two_way,
        sum(case
            when days_before_as_of < {{ window }} and channel = 'email' and event_type = 'sent'
                then 1
            else 0
        end) as emails_sent,
        sum(case
            when
                days_before_as_of < {{ window }} and channel = 'email' and event_type = 'clicked'
                then 1
            else 0
        end) as emails_clicked,
        sum(case
            when days_before_as_of < {{ window }} and channel = 'meeting' then 1 else 0
        end) as meetings,
        sum(case
            when
                days_before_as_of < {{ window }}
                and channel = 'meeting'
                and event_type = 'cancelled'
                then 1
            else 0
        end) as meetings_cancelled,
        sum(case
            when is_two_way and days_before_as_of < {{ trend_window }} then 1 else 0
        end) as two_way_current,
        sum(case
            when
                is_two_way
                and days_before_as_of >= {{ trend_window }}
                and days_before_as_of < {{ 2 * trend_window }}
                then 1
            else 0
        end) as two_way_previous

    from events_in_lookback
    group by account_id, as_of_date

),

engagement_metrics as (

    select
        active_accounts.account_id,
        active_accounts.as_of_date,
        coalesce(events_aggregated.days_since_two_way, {{ recency_cap }})
            as days_since_two_way_engagement,
        100.0 * events_aggregated.emails_clicked
        / nullif(events_aggregated.emails_sent, 0) as email_click_through_pct,
        100.0 * events_aggregated.meetings_cancelled
        / nullif(events_aggregated.meetings, 0) as meetings_cancelled_pct,
        100.0 * (events_aggregated.two_way_current - events_aggregated.two_way_previous)
        / nullif(events_aggregated.two_way_previous, 0) as engagement_trend_pct

    from active_accounts
    left join events_aggregated
        on
            active_accounts.account_id = events_aggregated.account_id
            and active_accounts.as_of_date = events_aggregated.as_of_date

),

final as (
    {{ unpivot_metrics('engagement_metrics', [
        'days_since_two_way_engagement', 'email_click_through_pct', 'meetings_cancelled_pct',
        'engagement_trend_pct',
    ]) }}
)

select * from final
