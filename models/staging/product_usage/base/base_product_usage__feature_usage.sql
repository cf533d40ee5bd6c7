{{ config(materialized='table') }}

{%- set raw_columns = [
    'usage_id', 'subscription_id', 'usage_date', 'feature_name', 'usage_count',
    'usage_duration_secs', 'error_count', 'is_beta_feature',
] %}

with

source as (

    select * from {{ source('product_usage', 'feature_usage') }}

),

typed as (

    select
        {{ clean_string('usage_id') }} as usage_id,
        {{ clean_string('subscription_id') }} as subscription_id,
        {{ parse_as('usage_date', 'date') }} as usage_date,
        {{ clean_string('feature_name') }} as feature_name,
        {{ parse_as('usage_count', 'bigint') }} as usage_count,
        {{ parse_as('usage_duration_secs', 'bigint') }} as usage_duration_secs,
        {{ parse_as('error_count', 'bigint') }} as error_count,
        {{ parse_boolean('is_beta_feature') }} as is_beta_feature,
        {{ raw_record(raw_columns) }} as raw_record

    from source

),

ranked as (

    select
        *,
        row_number() over key_window as key_occurrence,
        lag(raw_record) over key_window as previous_raw_record

    from typed
    window key_window as (partition by usage_id order by raw_record)

),

final as (

    select
        usage_id,
        subscription_id,
        usage_date,
        feature_name,
        usage_count,
        usage_duration_secs,
        error_count,
        is_beta_feature,
        raw_record,
        case
            when usage_id is null then 'missing_usage_id'
            when raw_record = previous_raw_record then 'exact_duplicate_row'
            when key_occurrence > 1 then 'duplicate_usage_id'
            when subscription_id is null then 'missing_subscription_id'
            when usage_date is null then 'invalid_usage_date'
            when feature_name is null then 'missing_feature_name'
            when usage_count is null then 'invalid_usage_count'
            when error_count is null then 'invalid_error_count'
            when usage_duration_secs is null then 'invalid_usage_duration'
            when usage_count < 0 or error_count < 0 or usage_duration_secs < 0
                then 'negative_usage_measure'
        end as quarantine_reason

    from ranked

)

select * from final
