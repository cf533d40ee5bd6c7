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

    select
        *,
        row_number() over key_window as key_occurrence,
        lag(raw_record) over key_window as previous_raw_record

    from typed
    window key_window as (
        partition by response_id
        -- lines with too many fields last: they never make a well-formed row a duplicate
        order by too_many_fields_detail is not null, raw_record
    )

),

with_parents as (

    select
        ranked.*,
        quarantined_accounts.parent_quarantine_detail

    from ranked
    left join quarantined_accounts
        on ranked.account_id = quarantined_accounts.account_id

),

flagged as (

    select
        *,
        case
            when too_many_fields_detail is not null then 'too_many_fields'
            when response_id is null then 'missing_response_id'
            when raw_record = previous_raw_record then 'exact_duplicate_row'
            when key_occurrence > 1 then 'duplicate_response_id'
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
        case
            when quarantine_reason = 'too_many_fields' then too_many_fields_detail
            when quarantine_reason = 'parent_quarantined' then parent_quarantine_detail
        end as quarantine_detail

    from flagged

)

select * from final
