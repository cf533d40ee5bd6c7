{#- The dates to score. `as_of_dates` (a list) wins over `as_of_date`; with neither set, the
    latest date found in the usage, billing and support data is used. -#}
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

feature_usage as (

    select * from {{ ref('stg_product_usage__feature_usage') }}

),

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

latest_dates as (

    select max(usage_date) as latest_date from feature_usage
    union all
    select max(start_date) as latest_date from subscriptions
    union all
    select max(submitted_date) as latest_date from tickets

),

final as (

    select max(latest_date) as as_of_date from latest_dates

)

{%- endif %}

select * from final
