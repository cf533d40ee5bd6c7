{#- Every raw usage row, typed, with `quarantine_reason` set when the row cannot be used.
    The usage table is the large one (about 100 rows per account), so duplicates are found with
    a cheap count per usage_id and only the rows of repeated ids are ranked, and the raw text of
    a row is only assembled for quarantined rows.
    On append-only Parquet folders (HEALTH_RAW_DATA_FORMAT=parquet) the model is incremental: a
    run reads only the files it has not loaded yet, and re-ranks the loaded rows that share a
    usage_id with new rows, so it ends with the same table as a full refresh. -#}
{{ config(
    materialized=('incremental' if raw_files_are_append_only() else 'table'),
    incremental_strategy='delete+insert',
    unique_key='usage_id',
    on_schema_change='fail',
) }}

{%- set raw_columns = [
    'usage_id', 'subscription_id', 'usage_date', 'feature_name', 'usage_count',
    'usage_duration_secs', 'error_count', 'is_beta_feature',
] %}
{%- set content_columns = raw_columns[1:] %}
{%- set raw_value_columns = [] %}
{%- for column in raw_columns %}{% do raw_value_columns.append('raw_' ~ column) %}{% endfor %}

{%- set new_files_filter = not_yet_loaded_files(this) if is_incremental() else '' %}

{#- The typed rows to load: inlined where used (not a shared CTE), so that the
    database streams the raw files instead of materialising every row with its raw values. -#}
{%- set candidates -%}
    select
        {{ clean_string('usage_id') }} as usage_id,
        {{ clean_string('subscription_id') }} as subscription_id,
        {{ parse_as('usage_date', 'date') }} as usage_date,
        {{ clean_string('feature_name') }} as feature_name,
        {{ parse_as('usage_count', 'bigint') }} as usage_count,
        {{ parse_as('usage_duration_secs', 'bigint') }} as usage_duration_secs,
        {{ parse_as('error_count', 'bigint') }} as error_count,
        {{ parse_boolean('is_beta_feature') }} as is_beta_feature,
        filename as source_file,
        {%- for column in raw_columns %}
        {{ column }} as raw_{{ column }},
        {%- endfor %}
        cast(null as {{ dbt.type_string() }}) as stored_raw_record

    from {{ source('product_usage', 'feature_usage') }}
    {%- if is_incremental() %}
    where {{ new_files_filter }}

    union all

    {#- loaded rows that share a usage_id with new rows are ranked again with them #}
    select
        {{ raw_columns | join(',\n        ') }},
        source_file,
        {%- for column in raw_columns %}
        cast({{ column }} as {{ dbt.type_string() }}) as raw_{{ column }},
        {%- endfor %}
        raw_record as stored_raw_record

    from {{ this }}
    where usage_id in (
        select {{ clean_string('usage_id') }}
        from {{ source('product_usage', 'feature_usage') }}
        where {{ new_files_filter }}
    )
    {%- endif %}
{%- endset %}

with

repeated_keys as (

    select usage_id
    from ({{ candidates }}) as candidates
    where usage_id is not null
    group by usage_id
    having count(*) > 1

),

single_rows as (

    select
        candidates.*,
        1 as key_occurrence,
        false as is_exact_duplicate

    from ({{ candidates }}) as candidates
    left join repeated_keys
        on candidates.usage_id = repeated_keys.usage_id
    where repeated_keys.usage_id is null

),

repeated_rows as (

    select
        candidates.*,
        row_number() over key_window as key_occurrence,
        {%- for column in content_columns %}
        candidates.{{ column }} is not distinct from lag(candidates.{{ column }}) over key_window
        {%- if not loop.last %} and{% endif %}
        {%- endfor %}
        as is_exact_duplicate

    from ({{ candidates }}) as candidates
    inner join repeated_keys
        on candidates.usage_id = repeated_keys.usage_id
    window key_window as (
        partition by candidates.usage_id
        order by
            {%- for column in content_columns %}
            candidates.{{ column }},
            {%- endfor %}
            {%- for column in raw_value_columns %}
            candidates.{{ column }},
            {%- endfor %}
            candidates.source_file
    )

),

flagged as (

    select
        *,
        case
            when usage_id is null then 'missing_usage_id'
            when key_occurrence > 1 and is_exact_duplicate then 'exact_duplicate_row'
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

    from (
        select * from single_rows
        union all
        select * from repeated_rows
    ) as ranked_rows

),

final as (

    select
        {{ raw_columns | join(',\n        ') }},
        source_file,
        case
            when quarantine_reason is not null
                then coalesce(
                    stored_raw_record,
                    {{ raw_record(raw_value_columns) }}
                )
        end as raw_record,
        quarantine_reason

    from flagged

)

select * from final
