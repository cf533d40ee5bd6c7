{{ config(enabled=raw_table_present('engagement.engagement_events')) }}

{#- The raw values that describe a row (its raw_record), as the source declares them. -#}
{%- set raw_columns = raw_record_columns('engagement', 'engagement_events') %}

with

source as (

    {{ raw_rows(source('engagement', 'engagement_events')) }}

),

typed as (

    select
        {{ clean_string('event_id') }} as event_id,
        {{ clean_string('account_id') }} as account_id,
        {{ parse_as('occurred_at', 'timestamp') }} as occurred_at,
        lower({{ clean_string('channel') }}) as channel,
        lower({{ clean_string('event_type') }}) as event_type,
        {{ clean_string('contact_id') }} as contact_id,
        {{ raw_record(raw_columns) }} as raw_record,
        too_many_fields_detail

    from source

),

quarantined_accounts as (

    {{ quarantined_parents(ref('base_crm__accounts'), 'account_id') }}

),

ranked as (

    {{ rows_ranked_by_key('typed', 'event_id') }}

),

with_parents as (

    {{ rows_with_parent_quarantine('ranked', 'quarantined_accounts', 'account_id') }}

),

flagged as (

    select
        *,
        case
            {{ key_quarantine_reasons('event_id') }}
            when account_id is null then 'missing_account_id'
            when occurred_at is null then 'invalid_occurred_at'
            when {{ is_implausible_date('occurred_at') }} then 'implausible_occurred_at'
            when {{ is_after_run_start('occurred_at') }} then 'dated_in_future'
            when channel is null then 'missing_channel'
            when not {{ is_known_engagement_channel('channel') }} then 'unknown_channel'
            when event_type is null then 'missing_event_type'
            when not {{ is_known_engagement_event('channel', 'event_type') }}
                then 'unknown_event_type'
            when parent_quarantine_detail is not null then 'parent_quarantined'
        end as quarantine_reason

    from with_parents

),

final as (

    select
        event_id,
        account_id,
        occurred_at,
        cast(occurred_at as date) as occurred_date,
        channel,
        event_type,
        contact_id,
        raw_record,
        quarantine_reason,
        {{ quarantine_detail() }} as quarantine_detail

    from flagged

)

select * from final
