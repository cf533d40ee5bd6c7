{{ config(enabled=raw_table_present('support.support_tickets')) }}

with

base as (

    select * from {{ ref('base_support__support_tickets') }}

),

final as (

    select
        ticket_id,
        account_id,
        submitted_date,
        closed_at,
        resolution_time_hours,
        priority,
        first_response_minutes,
        csat_score,
        is_escalated

    from base
    where quarantine_reason is null

)

select * from final
