{{ config(enabled=raw_table_present('support.support_tickets')) }}

{#- The raw values that describe a row (its raw_record), as the source declares them. -#}
{%- set raw_columns = raw_record_columns('support', 'support_tickets') %}

with

source as (

    {{ raw_rows(source('support', 'support_tickets')) }}

),

typed as (

    select
        {{ clean_string('ticket_id') }} as ticket_id,
        {{ clean_string('account_id') }} as account_id,
        {{ parse_as('submitted_at', 'date') }} as submitted_date,
        {{ parse_as('closed_at', 'timestamp') }} as closed_at,
        {{ parse_as('resolution_time_hours', 'double') }} as resolution_time_hours,
        lower({{ clean_string('priority') }}) as priority,
        {{ parse_as('first_response_time_minutes', 'double') }} as first_response_minutes,
        {{ parse_as('satisfaction_score', 'double') }} as csat_score,
        {{ parse_boolean('escalation_flag') }} as is_escalated,
        {{ clean_string('closed_at') }} is not null as has_raw_closed_at,
        {{ clean_string('resolution_time_hours') }} is not null as has_raw_resolution_time,
        {{ clean_string('first_response_time_minutes') }} is not null as has_raw_first_response,
        {{ clean_string('satisfaction_score') }} is not null as has_raw_csat,
        {{ raw_record(raw_columns) }} as raw_record,
        too_many_fields_detail

    from source

),

quarantined_accounts as (

    {{ quarantined_parents(ref('base_crm__accounts'), 'account_id') }}

),

ranked as (

    {{ rows_ranked_by_key('typed', 'ticket_id') }}

),

with_parents as (

    {{ rows_with_parent_quarantine('ranked', 'quarantined_accounts', 'account_id') }}

),

flagged as (

    select
        *,
        case
            {{ key_quarantine_reasons('ticket_id') }}
            when account_id is null then 'missing_account_id'
            when submitted_date is null then 'invalid_submitted_date'
            when {{ is_implausible_date('submitted_date') }} then 'implausible_submitted_date'
            when has_raw_closed_at and closed_at is null then 'invalid_closed_at'
            when {{ is_implausible_date('closed_at') }} then 'implausible_closed_at'
            when closed_at < cast(submitted_date as {{ dbt.type_timestamp() }})
                then 'closed_before_submitted'
            when has_raw_resolution_time and resolution_time_hours is null
                then 'invalid_resolution_time'
            when has_raw_first_response and first_response_minutes is null
                then 'invalid_first_response_time'
            when resolution_time_hours < 0 or first_response_minutes < 0
                then 'negative_duration'
            when {{ is_implausible_number('resolution_time_hours') }}
                then 'implausible_resolution_time'
            when
                {{ is_implausible_number('first_response_minutes', 'first_response_time_minutes') }}
                then 'implausible_first_response_time'
            when has_raw_csat and csat_score is null then 'invalid_csat_score'
            when csat_score < {{ var('csat_min') }} or csat_score > {{ var('csat_max') }}
                then 'csat_out_of_range'
            when priority is null then 'missing_priority'
            when parent_quarantine_detail is not null then 'parent_quarantined'
        end as quarantine_reason

    from with_parents

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
        is_escalated,
        raw_record,
        quarantine_reason,
        {{ quarantine_detail() }} as quarantine_detail

    from flagged

)

select * from final
