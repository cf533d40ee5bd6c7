{#- Every raw row that staging could not use, with the raw table it came from, its key, the reason
    (with, for parent_quarantined, the parent's key and reason as quarantine_detail) and its raw
    values. Nothing is dropped silently: rows in staging plus rows here = raw rows.
    The raw tables are the project's sources, read from the graph, each through the base model
    that selects from it and keyed by the column its source marks `key`. dbt must know which
    models a model reads before the graph exists, hence the depends_on line per base model: a
    source added without its line here fails this model's compilation, naming the line to add
    (an optional raw table's line only when the deployment has it). -#}

-- depends_on: {{ ref('base_billing__subscriptions') }}
-- depends_on: {{ ref('base_crm__accounts') }}
{% if raw_table_present('crm.churn_events') -%}
-- depends_on: {{ ref('base_crm__churn_events') }}
{% endif -%}
{% if raw_table_present('product_usage.feature_usage') -%}
-- depends_on: {{ ref('base_product_usage__feature_usage') }}
{% endif -%}
{% if raw_table_present('support.support_tickets') -%}
-- depends_on: {{ ref('base_support__support_tickets') }}
{% endif -%}
{% if raw_table_present('engagement.engagement_events') -%}
-- depends_on: {{ ref('base_engagement__engagement_events') }}
{% endif -%}
{% if raw_table_present('survey.nps_responses') -%}
-- depends_on: {{ ref('base_survey__nps_responses') }}
{% endif %}
with

quarantined as (
    {%- for raw_table in raw_sources() %}

    select
        '{{ raw_table.source_name }}' as source_name,
        '{{ raw_table.name }}' as table_name,
        {{ raw_key_column(raw_table) }} as record_key,
        quarantine_reason,
        quarantine_detail,
        raw_record
    from {{ ref(base_model_of(raw_table).name) }}
    where quarantine_reason is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        {{ dbt.concat([
            'table_name', "':'",
            'cast(row_number() over (partition by table_name order by raw_record, '
                ~ 'quarantine_reason, coalesce(quarantine_detail, \'\')) as '
                ~ dbt.type_string() ~ ')',
        ]) }} as quarantined_row_id,
        source_name,
        table_name,
        record_key,
        quarantine_reason,
        quarantine_detail,
        raw_record

    from quarantined

)

select * from final
