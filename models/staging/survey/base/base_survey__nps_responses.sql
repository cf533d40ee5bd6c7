{{ config(enabled=raw_table_present('survey.nps_responses')) }}

{#- The raw values that describe a row (its raw_record), as the source declares them. -#}
{%- set raw_columns = raw_record_columns('survey', 'nps_responses') %}

with

source as (

    {{ raw_rows(source('survey', 'nps_responses')) }}

),

typed as (

    select
        {{ clean_string('response_id') }} as response_id,
        {{ clean_string('account_id') }} as account_id,
        {{ parse_as('responded_at', 'timestamp') }} as responded_at,
        {{ parse_as('nps_score', 'bigint') }} as nps_score,
        {{ clean_string('nps_score') }} is not null as has_raw_nps_score,
        {{ clean_string('contact_id') }} as contact_id,
        {{ clean_string('comment') }} as response_comment,
        {{ raw_record(raw_columns) }} as raw_record,
        too_many_fields_detail

    from source

),

quarantined_accounts as (

    {{ quarantined_parents(ref('base_crm__accounts'), 'account_id') }}

),

ranked as (

    {{ rows_ranked_by_key('typed', 'response_id') }}

),

with_parents as (

    {{ rows_with_parent_quarantine('ranked', 'quarantined_accounts', 'account_id') }}

),

flagged as (

    select
        *,
        case
            {{ key_quarantine_reasons('response_id') }}
            when account_id is null then 'missing_account_id'
            when responded_at is null then 'invalid_responded_at'
            when {{ is_implausible_date('responded_at') }} then 'implausible_responded_at'
            when {{ is_after_run_start('responded_at') }} then 'dated_in_future'
            when not has_raw_nps_score then 'missing_nps_score'
            when nps_score is null then 'invalid_nps_score'
            when nps_score < 0 or nps_score > 10 then 'nps_score_out_of_range'
            when parent_quarantine_detail is not null then 'parent_quarantined'
        end as quarantine_reason

    from with_parents

),

final as (

    select
        response_id,
        account_id,
        responded_at,
        cast(responded_at as date) as responded_date,
        nps_score,
        contact_id,
        response_comment,
        raw_record,
        quarantine_reason,
        {{ quarantine_detail() }} as quarantine_detail

    from flagged

)

select * from final
