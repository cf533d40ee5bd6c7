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
        {{ clean_string('parent_account_id') }} as parent_account_id,
        {{ clean_string('seats') }} is not null as has_raw_seats,
        {{ typed_attribute_columns('crm.accounts') }}
        {{ raw_record(raw_columns) }} as raw_record,
        too_many_fields_detail

    from source

),

ranked as (

    {{ rows_ranked_by_key('typed', 'account_id') }}

),

parent_links as (
    -- the first row of each account id: the one kept when it is clean

    select
        account_id,
        parent_account_id

    from ranked
    where
        key_occurrence = 1
        and account_id is not null
        and parent_account_id is not null

),

cyclic_parents as (

    {{ accounts_on_parent_cycles('parent_links') }}

),

checked as (

    select
        ranked.*,
        cyclic_parents.account_id is not null as is_on_parent_cycle

    from ranked
    left join cyclic_parents
        on
            ranked.account_id = cyclic_parents.account_id
            and ranked.key_occurrence = 1

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
        parent_account_id,
        {{ attribute_column_names('crm.accounts') }}
        raw_record,
        case
            {{ key_quarantine_reasons('account_id') }}
            when signup_date is null then 'invalid_signup_date'
            when {{ is_implausible_date('signup_date') }} then 'implausible_signup_date'
            when has_raw_seats and initial_seats is null then 'invalid_seats'
            when initial_seats < 0 then 'negative_seats'
            when {{ is_implausible_number('initial_seats', 'seats') }} then 'implausible_seats'
            when parent_account_id = account_id then 'self_parent'
            when is_on_parent_cycle then 'cyclic_parent'
        end as quarantine_reason,
        -- accounts have no parent table, so never parent_quarantined (a parent account is a
        -- hierarchy, not a table: a child of a quarantined account stays)
        too_many_fields_detail as quarantine_detail

    from checked

)

select * from final
