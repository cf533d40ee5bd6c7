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
        and {{ is_not_in_list('metric_name', var('disabled_metrics')) }}
        and (raw_table is null or {{ is_not_in_list('raw_table', var('absent_raw_tables')) }})

)

select * from final
