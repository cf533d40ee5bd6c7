-- Nothing is dropped silently: per raw table, staged rows + quarantined rows = raw rows.
{%- set tables = [
    ('crm', 'accounts', 'stg_crm__accounts'),
    ('crm', 'churn_events', 'stg_crm__churn_events'),
    ('billing', 'subscriptions', 'stg_billing__subscriptions'),
    ('product_usage', 'feature_usage', 'stg_product_usage__feature_usage'),
    ('support', 'support_tickets', 'stg_support__tickets'),
] %}

with

quarantined as (

    select
        table_name,
        count(*) as quarantined_rows
    from {{ ref('quarantined_source_rows') }}
    group by table_name

),

row_counts as (
    {%- for source_name, table_name, staging_model in tables %}

    select
        '{{ table_name }}' as table_name,
        (select count(*) from {{ source(source_name, table_name) }}) as raw_rows,
        (select count(*) from {{ ref(staging_model) }}) as staged_rows
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)

select
    row_counts.table_name,
    row_counts.raw_rows,
    row_counts.staged_rows,
    coalesce(quarantined.quarantined_rows, 0) as quarantined_rows
from row_counts
left join quarantined on row_counts.table_name = quarantined.table_name
where row_counts.raw_rows != row_counts.staged_rows + coalesce(quarantined.quarantined_rows, 0)
