{#- The dates to score. `as_of_dates` (a list) wins over `as_of_date`; with neither set, the
    latest date found in the usage, billing and support data is used (those of them the
    deployment has). -#}
{%- set as_of_dates = var('as_of_dates') or ([var('as_of_date')] if var('as_of_date') else []) %}

with

{% if as_of_dates -%}

requested_dates as (
    {%- for as_of_date in as_of_dates %}

    select cast('{{ as_of_date }}' as date) as as_of_date
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select distinct as_of_date from requested_dates

)

{%- else -%}

{#- The latest date of each dated raw table the deployment has: subscriptions always, usage and
    tickets when present. #}
{%- set dated_tables = [('stg_billing__subscriptions', 'start_date')] %}
{%- if raw_table_present('product_usage.feature_usage') %}
{%- do dated_tables.append(('stg_product_usage__feature_usage', 'usage_date')) %}
{%- endif %}
{%- if raw_table_present('support.support_tickets') %}
{%- do dated_tables.append(('stg_support__tickets', 'submitted_date')) %}
{%- endif %}

{%- for model, date_column in dated_tables %}
{{ model }} as (

    select * from {{ ref(model) }}

),

{% endfor -%}

latest_dates as (
    {%- for model, date_column in dated_tables %}

    select max({{ date_column }}) as latest_date from {{ model }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select max(latest_date) as as_of_date from latest_dates

)

{%- endif %}

select * from final
