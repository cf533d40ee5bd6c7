{#- The raw values that describe a row (its raw_record), as the source declares them. -#}
{%- set raw_columns = raw_record_columns('crm', 'accounts') %}

with

source as (

    {{ raw_rows(source('crm', 'accounts')) }}

),

typed as (

    select
        {{ clean_string('account_id') }} as account_id,
        {{ clean_string('account_name') }} as account_name,
        {{ clean_string('industry') }} as industry,
        {{ clean_string('country') }} as country,
        {{ parse_as('signup_date', 'date') }} as signup_date,
        lower({{ clean_string('referral_source') }}) as referral_source,
        {{ clean_string('plan_tier') }} as initial_plan_tier,
        {{ parse_as('seats', 'bigint') }} as initial_seats,
        {{ parse_boolean('is_trial') }} as is_initial_trial,
        {{ clean_string('seats') }} is not null as has_raw_seats,
        {{ typed_attribute_columns('crm.accounts') }}
        {{ raw_record(raw_columns) }} as raw_record,
        too_many_fields_detail

    from source

),

ranked as (

    {{ rows_ranked_by_key('typed', 'account_id') }}

),

final as (

    select
        account_id,
        account_name,
        industry,
        country,
        signup_date,
        referral_source,
        initial_plan_tier,
        initial_seats,
        is_initial_trial,
        {{ attribute_column_names('crm.accounts') }}
        raw_record,
        case
            {{ key_quarantine_reasons('account_id') }}
            when signup_date is null then 'invalid_signup_date'
            when {{ is_implausible_date('signup_date') }} then 'implausible_signup_date'
            when has_raw_seats and initial_seats is null then 'invalid_seats'
            when initial_seats < 0 then 'negative_seats'
            when {{ is_implausible_number('initial_seats', 'seats') }} then 'implausible_seats'
        end as quarantine_reason,
        -- accounts have no parent table, so never parent_quarantined
        too_many_fields_detail as quarantine_detail

    from ranked

)

select * from final
