{#- Every scored metric value per account and as-of date (null = no data, N/A): the metrics of the
    catalogue that the deployment scores (int_scored_metrics). A metric is not scored when it is
    listed in var `disabled_metrics`, or when the raw table it needs is absent (var
    `absent_raw_tables`: its metric model is then disabled, so it has no rows). Either way it is
    left out of every account's score, and the weights of the other metrics are renormalised
    (int_segment_weights, int_account_metric_contributions). -#}
{%- set metric_models = ['int_account_billing_metrics', 'int_account_attribute_metrics'] %}
{%- if raw_table_present('product_usage.feature_usage') %}
{%- do metric_models.append('int_account_usage_metrics') %}
{%- endif %}
{%- if raw_table_present('support.support_tickets') %}
{%- do metric_models.append('int_account_support_metrics') %}
{%- endif %}
{%- if raw_table_present('engagement.engagement_events') %}
{%- do metric_models.append('int_account_engagement_metrics') %}
{%- endif %}
{%- if raw_table_present('survey.nps_responses') %}
{%- do metric_models.append('int_account_nps_metrics') %}
{%- endif %}

with

scored_metrics as (

    select * from {{ ref('int_scored_metrics') }}

),

{% for metric_model in metric_models -%}
{{ metric_model | replace('int_account_', '') }} as (

    select * from {{ ref(metric_model) }}

),

{% endfor -%}

computed as (
    {%- for metric_model in metric_models %}

    select
        account_id,
        as_of_date,
        metric_name,
        metric_value
    from {{ metric_model | replace('int_account_', '') }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        computed.account_id,
        computed.as_of_date,
        computed.metric_name,
        computed.metric_value

    from computed
    inner join scored_metrics
        on computed.metric_name = scored_metrics.metric_name

)

select * from final
