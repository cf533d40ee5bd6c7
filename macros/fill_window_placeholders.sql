{#- `text` (a SQL text expression) with each `{var_name}` placeholder of a window var replaced
    by that var's value, so a text such as the metric_definitions seed's zero_value_text ("no
    activity in {usage_window_days} days") follows the configured window. -#}
{% macro fill_window_placeholders(text) -%}
    {%- set window_vars = [
        'usage_window_days', 'feature_breadth_window_days', 'mrr_change_window_days',
        'downgrade_window_days', 'support_window_days', 'csat_window_days',
        'engagement_window_days', 'engagement_trend_window_days', 'engagement_recency_cap_days',
        'nps_window_days',
    ] -%}
    {%- set filled = namespace(sql=text) -%}
    {%- for name in window_vars -%}
        {%- set filled.sql = 'replace(' ~ filled.sql ~ ', ' ~ sql_literal('{' ~ name ~ '}') ~ ', '
            ~ sql_literal(var(name)) ~ ')' -%}
    {%- endfor -%}
    {{ filled.sql }}
{%- endmacro %}
