{{ config(enabled=raw_table_present('engagement.engagement_events')) }}

with

base as (

    select * from {{ ref('base_engagement__engagement_events') }}

),

final as (

    select
        event_id,
        account_id,
        occurred_at,
        occurred_date,
        channel,
        event_type,
        event_type in ({{ sql_literal_list(var('two_way_event_types')) }}) as is_two_way,
        contact_id

    from base
    where quarantine_reason is null

)

select * from final
