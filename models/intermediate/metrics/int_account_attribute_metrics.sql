{#- Attribute metrics per account and as-of date, long format: what an account is rather than
    what it does, scored without SQL of a deployment's own.
    - tenure_days: days since signup.
    - plan_rank: the current plan's tier_rank (seed plan_tiers).
    - one metric per entry of var attribute_metrics (metric_name -> '<source>.<table>.<column>'
      of an attribute column, var attribute_columns): the rank (seed attribute_values) of the
      account's value, on crm.accounts, or on the current subscription for
      billing.subscriptions. A value the seed does not rank is N/A.
    Bands in scoring_bands turn each into points, so the direction (is a higher rank better?) is
    configuration. Only the metrics in the catalogue are scored (int_account_metric_values). -#}
{%- set attribute_metrics = var('attribute_metrics') or {} %}
{#- Per raw table with attributes: the active account's column naming its row. -#}
{%- set attribute_rows_of = {
    'crm.accounts': 'account_id',
    'billing.subscriptions': 'current_subscription_id',
} %}

with

active_accounts as (

    select * from {{ ref('int_active_accounts') }}

),

plan_tiers as (

    select * from {{ ref('plan_tiers') }}

),

account_attributes as (

    select * from {{ ref('stg_crm__account_attributes') }}

),

subscription_attributes as (

    select * from {{ ref('stg_billing__subscription_attributes') }}

),

attribute_values as (

    select * from {{ ref('attribute_values') }}

),

attributes as (

    select
        'crm.accounts' as raw_table,
        account_id as row_key,
        attribute_name,
        attribute_value
    from account_attributes
    union all
    select
        'billing.subscriptions' as raw_table,
        subscription_id as row_key,
        attribute_name,
        attribute_value
    from subscription_attributes

),

profile_metrics as (

    select
        active_accounts.account_id,
        active_accounts.as_of_date,
        active_accounts.tenure_days,
        plan_tiers.tier_rank as plan_rank

    from active_accounts
    left join plan_tiers
        on active_accounts.plan_tier = plan_tiers.plan_tier

),

profile_metric_rows as (
    {{ unpivot_metrics('profile_metrics', ['tenure_days', 'plan_rank']) }}
),

account_attribute_values as (
    {%- for metric_name, attribute in attribute_metrics.items() %}
    {%- set table = attribute.rsplit('.', 1)[0] %}
    {%- set column = attribute.rsplit('.', 1)[1] | trim | lower %}
    {%- if table not in attribute_rows_of or column not in attribute_columns(table) %}
    {{ exceptions.raise_compiler_error(
        'var attribute_metrics: ' ~ metric_name ~ " reads '" ~ attribute ~ "', which is not an "
        ~ 'attribute column: name one listed in var attribute_columns for '
        ~ attribute_rows_of.keys() | join(' or ')) }}
    {%- endif %}

    select
        active_accounts.account_id,
        active_accounts.as_of_date,
        '{{ metric_name }}' as metric_name,
        attributes.attribute_value

    from active_accounts
    left join attributes
        on
            attributes.raw_table = '{{ table }}'
            and active_accounts.{{ attribute_rows_of[table] }} = attributes.row_key
            and attributes.attribute_name = '{{ column }}'
    union all
    {%- endfor %}

    -- the shape, for deployments without attribute metrics
    select
        row_key as account_id,
        cast(null as date) as as_of_date,
        attribute_name as metric_name,
        attribute_value
    from attributes
    where 1 = 0

),

ranked_attribute_rows as (

    select
        account_attribute_values.account_id,
        account_attribute_values.as_of_date,
        account_attribute_values.metric_name,
        cast(attribute_values.value_rank as {{ type_double() }}) as metric_value

    from account_attribute_values
    left join attribute_values
        on
            account_attribute_values.metric_name = attribute_values.metric_name
            and lower(account_attribute_values.attribute_value)
            = lower(attribute_values.attribute_value)

),

final as (

    select * from profile_metric_rows
    union all
    select * from ranked_attribute_rows

)

select * from final
