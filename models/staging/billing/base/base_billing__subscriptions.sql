{#- The raw values that describe a row (its raw_record), as the source declares them. -#}
{%- set raw_columns = raw_record_columns('billing', 'subscriptions') %}

with

source as (

    {{ raw_rows(source('billing', 'subscriptions')) }}

),

typed as (

    select
        {{ clean_string('subscription_id') }} as subscription_id,
        {{ clean_string('account_id') }} as account_id,
        {{ parse_as('start_date', 'date') }} as start_date,
        {{ parse_as('end_date', 'date') }} as end_date,
        {{ clean_string('plan_tier') }} as plan_tier,
        {{ parse_as('seats', 'bigint') }} as seats,
        {{ parse_as('mrr_amount', 'double') }} as mrr_amount,
        {{ parse_as('arr_amount', 'double') }} as arr_amount,
        {{ parse_boolean('is_trial') }} as is_trial,
        {{ parse_boolean('upgrade_flag') }} as is_upgrade,
        {{ parse_boolean('downgrade_flag') }} as is_downgrade,
        lower({{ clean_string('billing_frequency') }}) as billing_frequency,
        {{ parse_boolean('auto_renew_flag') }} as is_auto_renew,
        {{ clean_string('end_date') }} is not null as has_raw_end_date,
        {{ clean_string('arr_amount') }} is not null as has_raw_arr_amount,
        {{ typed_attribute_columns('billing.subscriptions') }}
        {{ raw_record(raw_columns) }} as raw_record,
        too_many_fields_detail

    from source

),

quarantined_accounts as (

    {{ quarantined_parents(ref('base_crm__accounts'), 'account_id') }}

),

ranked as (

    {{ rows_ranked_by_key('typed', 'subscription_id') }}

),

with_parents as (

    {{ rows_with_parent_quarantine('ranked', 'quarantined_accounts', 'account_id') }}

),

flagged as (

    select
        *,
        case
            {{ key_quarantine_reasons('subscription_id') }}
            when account_id is null then 'missing_account_id'
            when start_date is null then 'invalid_start_date'
            when {{ is_implausible_date('start_date') }} then 'implausible_start_date'
            when has_raw_end_date and end_date is null then 'invalid_end_date'
            when {{ is_implausible_date('end_date') }} then 'implausible_end_date'
            when end_date < start_date then 'end_date_before_start_date'
            when plan_tier is null then 'missing_plan_tier'
            when seats is null then 'invalid_seats'
            when seats < 0 then 'negative_seats'
            when {{ is_implausible_number('seats') }} then 'implausible_seats'
            when mrr_amount is null then 'invalid_mrr_amount'
            when mrr_amount < 0 then 'negative_mrr_amount'
            when {{ is_implausible_number('mrr_amount') }} then 'implausible_mrr_amount'
            when has_raw_arr_amount and arr_amount is null then 'invalid_arr_amount'
            when arr_amount < 0 then 'negative_arr_amount'
            when {{ is_implausible_number('arr_amount') }} then 'implausible_arr_amount'
            when is_trial is null or is_auto_renew is null then 'invalid_boolean_flag'
            when parent_quarantine_detail is not null then 'parent_quarantined'
        end as quarantine_reason

    from with_parents

),

final as (

    select
        subscription_id,
        account_id,
        start_date,
        end_date,
        plan_tier,
        seats,
        mrr_amount,
        arr_amount,
        is_trial,
        is_upgrade,
        is_downgrade,
        billing_frequency,
        is_auto_renew,
        {{ attribute_column_names('billing.subscriptions') }}
        raw_record,
        quarantine_reason,
        {{ quarantine_detail() }} as quarantine_detail

    from flagged

)

select * from final
