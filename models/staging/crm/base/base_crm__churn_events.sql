{{ config(enabled=raw_table_present('crm.churn_events')) }}

{#- The raw values that describe a row (its raw_record), as the source declares them. -#}
{%- set raw_columns = raw_record_columns('crm', 'churn_events') %}

with

source as (

    {{ raw_rows(source('crm', 'churn_events')) }}

),

typed as (

    select
        {{ clean_string('churn_event_id') }} as churn_event_id,
        {{ clean_string('account_id') }} as account_id,
        {{ parse_as('churn_date', 'date') }} as churn_date,
        lower({{ clean_string('reason_code') }}) as reason_code,
        {{ parse_as('refund_amount_usd', 'double') }} as refund_amount_usd,
        {{ parse_boolean('preceding_upgrade_flag') }} as had_preceding_upgrade,
        {{ parse_boolean('preceding_downgrade_flag') }} as had_preceding_downgrade,
        {{ parse_boolean('is_reactivation') }} as is_reactivation,
        {{ clean_string('feedback_text') }} as feedback_text,
        {{ clean_string('refund_amount_usd') }} is not null as has_raw_refund,
        {{ raw_record(raw_columns) }} as raw_record,
        too_many_fields_detail

    from source

),

quarantined_accounts as (

    {{ quarantined_parents(ref('base_crm__accounts'), 'account_id') }}

),

ranked as (

    {{ rows_ranked_by_key('typed', 'churn_event_id') }}

),

with_parents as (

    {{ rows_with_parent_quarantine('ranked', 'quarantined_accounts', 'account_id') }}

),

flagged as (

    select
        *,
        case
            {{ key_quarantine_reasons('churn_event_id') }}
            when account_id is null then 'missing_account_id'
            when churn_date is null then 'invalid_churn_date'
            when {{ is_implausible_date('churn_date') }} then 'implausible_churn_date'
            when has_raw_refund and refund_amount_usd is null then 'invalid_refund_amount'
            when refund_amount_usd < 0 then 'negative_refund_amount'
            when {{ is_implausible_number('refund_amount_usd') }} then 'implausible_refund_amount'
            when parent_quarantine_detail is not null then 'parent_quarantined'
        end as quarantine_reason

    from with_parents

),

final as (

    select
        churn_event_id,
        account_id,
        churn_date,
        reason_code,
        refund_amount_usd,
        had_preceding_upgrade,
        had_preceding_downgrade,
        is_reactivation,
        feedback_text,
        raw_record,
        quarantine_reason,
        {{ quarantine_detail() }} as quarantine_detail

    from flagged

)

select * from final
