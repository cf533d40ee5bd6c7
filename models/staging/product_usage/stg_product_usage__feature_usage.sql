{{ config(enabled=raw_table_present('product_usage.feature_usage')) }}

with

base as (

    select * from {{ ref('base_product_usage__feature_usage') }}

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
        {% if raw_files_are_append_only() -%}
        -- read from the model, not the CTE: a CTE read twice may be materialised whole
        loaded_at = (
            select max(latest_load.loaded_at)
            from {{ ref('base_product_usage__feature_usage') }} as latest_load
        )
        {%- else -%}
        -- the base model is rebuilt whole on every run, so every row is loaded anew (a
        -- constant: with the subquery, PostgreSQL ran the scoped relationships test for minutes)
        true
        {%- endif %} as is_newly_loaded

    from base
    where quarantine_reason is null

)

select * from final
