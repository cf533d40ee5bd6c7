{#- Optional systems. A deployment without product usage, a support desk or churn events lists
    those raw tables in var `absent_raw_tables`; their sources, base and staging models, metric
    models and tests are disabled (the models' `enabled` config), and the gate skips what it
    no longer finds. Accounts and subscriptions are what a score is about: never optional. -#}

{#- The raw tables a deployment may go without, as '<source>.<table>'. -#}
{% macro optional_raw_tables() -%}
    {{ return([
        'product_usage.feature_usage', 'support.support_tickets', 'crm.churn_events',
        'engagement.engagement_events', 'survey.nps_responses',
    ]) }}
{%- endmacro %}


{#- Whether raw table `name` ('<source>.<table>') is part of this deployment. Fails on a name in
    `absent_raw_tables` that is not an optional table, so that a typo cannot go unnoticed. -#}
{% macro raw_table_present(name) -%}
    {%- set absent = var('absent_raw_tables') or [] -%}
    {%- for table in absent if table not in optional_raw_tables() -%}
        {{ exceptions.raise_compiler_error(
            "var absent_raw_tables lists '" ~ table ~ "': only optional raw tables may be absent ("
            ~ optional_raw_tables() | join(', ') ~ ')') }}
    {%- endfor -%}
    {{ return(name not in absent) }}
{%- endmacro %}
