{#- Support and satisfaction metrics per account and as-of date, long format. Ticket counts use
    tickets submitted in the window; response, resolution and CSAT use tickets closed on or before
    the as-of date (those values are only known once a ticket is closed). No tickets means 0
    tickets but N/A response times and CSAT. -#}
{{ config(enabled=raw_table_present('support.support_tickets')) }}
{%- set support_window = var('support_window_days') %}
{%- set csat_window = var('csat_window_days') %}
{%- set lookback_days = [support_window, csat_window] | max %}

with

tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

active_accounts as (

    select * from {{ ref('int_active_accounts') }}

),

tickets_in_lookback as (

    select
        active_accounts.account_id,
        active_accounts.as_of_date,
        tickets.priority,
        tickets.is_escalated,
        tickets.first_response_minutes,
        tickets.resolution_time_hours,
        tickets.csat_score,
        {{ days_between('tickets.submitted_date', 'active_accounts.as_of_date') }}
            as submitted_days_before,
        {{ days_between('cast(tickets.closed_at as date)', 'active_accounts.as_of_date') }}
            as closed_days_before

    from active_accounts
    inner join tickets
        on
            active_accounts.account_id = tickets.account_id
            and active_accounts.as_of_date >= tickets.submitted_date
            and {{
                dbt.dateadd('day', -lookback_days, 'active_accounts.as_of_date')
            }} < tickets.submitted_date

),

tickets_aggregated as (

    select
        account_id,
        as_of_date,
        sum(case
            when submitted_days_before < {{ support_window }} then 1 else 0
        end) as tickets_submitted,
        sum(case
            when
                submitted_days_before < {{ support_window }}
                and (
                    priority in ('{{ var("urgent_priorities") | join("', '") }}')
                    or is_escalated
                )
                then 1
            else 0
        end) as urgent_tickets,
        avg(case
            when submitted_days_before < {{ support_window }} and closed_days_before >= 0
                then first_response_minutes
        end) as avg_first_response_minutes,
        avg(case
            when submitted_days_before < {{ support_window }} and closed_days_before >= 0
                then resolution_time_hours
        end) as avg_resolution_hours,
        avg(case
            when submitted_days_before < {{ csat_window }} and closed_days_before >= 0
                then csat_score
        end) as avg_csat

    from tickets_in_lookback
    group by account_id, as_of_date

),

support_metrics as (

    select
        active_accounts.account_id,
        active_accounts.as_of_date,
        1.0 * coalesce(tickets_aggregated.tickets_submitted, 0)
        / nullif(active_accounts.seats, 0) as tickets_per_seat,
        coalesce(tickets_aggregated.urgent_tickets, 0) as urgent_tickets,
        tickets_aggregated.avg_first_response_minutes,
        tickets_aggregated.avg_resolution_hours,
        tickets_aggregated.avg_csat

    from active_accounts
    left join tickets_aggregated
        on
            active_accounts.account_id = tickets_aggregated.account_id
            and active_accounts.as_of_date = tickets_aggregated.as_of_date

),

final as (
    {{ unpivot_metrics('support_metrics', [
        'tickets_per_seat', 'urgent_tickets', 'avg_first_response_minutes',
        'avg_resolution_hours', 'avg_csat',
    ]) }}
)

select * from final
