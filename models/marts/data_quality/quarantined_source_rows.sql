{#- Every raw row that staging could not use, with the table it came from, its key, the reason
    and its raw values. Nothing is dropped silently: rows in staging plus rows here = raw rows. -#}
{%- set base_models = [
    ('crm', 'accounts', 'account_id', 'base_crm__accounts'),
    ('crm', 'churn_events', 'churn_event_id', 'base_crm__churn_events'),
    ('billing', 'subscriptions', 'subscription_id', 'base_billing__subscriptions'),
    ('product_usage', 'feature_usage', 'usage_id', 'base_product_usage__feature_usage'),
    ('support', 'support_tickets', 'ticket_id', 'base_support__support_tickets'),
] %}

with

quarantined as (
    {%- for source_name, table_name, key_column, base_model in base_models %}

    select
        '{{ source_name }}' as source_name,
        '{{ table_name }}' as table_name,
        {{ key_column }} as record_key,
        quarantine_reason,
        raw_record
    from {{ ref(base_model) }}
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
            'cast(row_number() over (partition by table_name order by raw_record) as '
                ~ dbt.type_string() ~ ')',
        ]) }} as quarantined_row_id,
        source_name,
        table_name,
        record_key,
        quarantine_reason,
        raw_record

    from quarantined

)

select * from final
