{#- The usage rows base_product_usage__feature_usage ranks: raw rows typed (with their raw
    values as raw_<column>, and too_many_fields_detail) and, on an incremental run, the already
    loaded rows that share a usage_id with the new ones or with a loaded row that matches
    recheck_filter (a condition on the loaded table's columns). raw_relation is the model's
    source() read through raw_rows, as a subquery (base models stay the only place that names
    sources). A macro rather than a CTE so that each use streams the raw files instead of the
    database materialising every row with its raw values. -#}
{% macro feature_usage_rows_to_load(raw_relation, raw_columns, new_files_filter,
    recheck_filter='false') -%}
    select
        {{ clean_string('usage_id') }} as usage_id,
        {{ clean_string('subscription_id') }} as subscription_id,
        {{ parse_as('usage_date', 'date') }} as usage_date,
        {{ clean_string('feature_name') }} as feature_name,
        {{ parse_as('usage_count', 'bigint') }} as usage_count,
        {{ parse_as('usage_duration_secs', 'bigint') }} as usage_duration_secs,
        {{ parse_as('error_count', 'bigint') }} as error_count,
        {{ parse_boolean('is_beta_feature') }} as is_beta_feature,
        {{ 'filename' if raw_files_are_append_only() else 'cast(null as ' ~ dbt.type_string() ~ ')' }}
            as source_file,
        {%- for column in raw_columns %}
        {{ column }} as raw_{{ column }},
        {%- endfor %}
        too_many_fields_detail,
        cast(null as {{ dbt.type_string() }}) as stored_raw_record
    from {{ raw_relation }}
    {%- if is_incremental() %}
    where {{ new_files_filter }}

    union all

    select
        {{ raw_columns | join(', ') }},
        source_file,
        {%- for column in raw_columns %}
        cast({{ column }} as {{ dbt.type_string() }}) as raw_{{ column }},
        {%- endfor %}
        -- loaded rows come from Parquet files, whose rows never have too many fields
        cast(null as {{ dbt.type_string() }}) as too_many_fields_detail,
        raw_record as stored_raw_record
    from {{ this }}
    where usage_id in (
        select {{ clean_string('usage_id') }}
        from {{ raw_relation }}
        where {{ new_files_filter }}

        union all

        select usage_id
        from {{ this }}
        where {{ recheck_filter }}
    )
    {%- endif %}
{%- endmacro %}
