{#- The long companion of customer_health_scores: one row per account, as-of date and metric,
    with the value, band, points, weight and what the metric adds to or takes from the score.
    A view: its rows are the contributions model's, stamped with the scoring configuration, and
    a table would be one more copy of them (15 rows per account; 11 s of a 1M-account build). -#}
{{ config(materialized='view') }}

with

contributions as (

    select * from {{ ref('int_account_metric_contributions') }}

),

final as (

    select
        account_id,
        as_of_date,
        metric_name,
        segment,
        category,
        display_name,
        unit,
        metric_value,
        has_data,
        band_label,
        points,
        weight,
        effective_weight,
        points_contributed,
        points_lost,
        driver_rank,
        driver_text,
        value_text,
        '{{ var("scoring_config_version") }}' as scoring_config_version

    from contributions

)

select * from final
