{#- The catalogue's metrics (seed metric_definitions) that this deployment scores: every one not
    listed in var `disabled_metrics` whose raw table is present (not in var `absent_raw_tables`).
    The one place that decides it: metric values, weights and tests read this list. -#}

with

metric_definitions as (

    select * from {{ ref('metric_definitions') }}

),

final as (

    select
        metric_name,
        category,
        display_name,
        unit,
        raw_table,
        missing_points,
        description

    from metric_definitions
    where
        metric_name is not null
        {%- if var('disabled_metrics') %}
            and metric_name not in ({{ sql_literal_list(var('disabled_metrics')) }})
        {%- endif %}
        {%- if var('absent_raw_tables') %}
            and (
                raw_table is null
                or raw_table not in ({{ sql_literal_list(var('absent_raw_tables')) }})
            )
        {%- endif %}

)

select * from final
