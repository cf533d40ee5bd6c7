{#- Conditions for the quarantine reason implausible_<column>: a parsed raw number above its
    var plausible_max, or a date or timestamp outside var plausible_dates. Values that are
    merely unusual stay; values no real system produces (a 1e300 MRR, the year 9999) never reach
    a score. -#}
{% macro is_implausible_number(column, raw_column=none) -%}
    {{ column }} > {{ var('plausible_max')[raw_column or column] }}
{%- endmacro %}

{% macro is_implausible_date(column) -%}
    ({{ column }} < cast('{{ var("plausible_dates").min }}' as date)
        or {{ column }} > cast('{{ var("plausible_dates").max }}' as date))
{%- endmacro %}

{#- A timestamp after this run started: an event cannot have happened yet (quarantined as
    dated_in_future). -#}
{% macro is_after_run_start(column) -%}
    {{ column }} > cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}
