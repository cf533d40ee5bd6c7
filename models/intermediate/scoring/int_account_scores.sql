{#- One health score per account and as-of date: the weighted mean of metric points over the
    metrics with points (weights renormalised), sub-scores per category, and coverage: how many of
    the segment's weighted metrics had data, and what share of the weight they carry. -#}

with

contributions as (

    select * from {{ ref('int_account_metric_contributions') }}

),

final as (

    select
        account_id,
        as_of_date,
        {{ round_number('sum(points_contributed)', 4) }} as raw_score,
        {%- for category in var('score_categories') %}
        {%- set category_score = (
            "sum(case when category = '" ~ category ~ "' then weight * points end)"
            ~ " / nullif(sum(case when category = '" ~ category
            ~ "' and points is not null then weight end), 0)"
        ) %}
        {{ round_number(category_score, 4) }} as {{ category }}_score,
        {%- endfor %}
        cast(sum(case when has_data and weight > 0 then 1 else 0 end) as integer)
            as metrics_with_data,
        cast(sum(case when weight > 0 then 1 else 0 end) as integer) as metrics_expected,
        {{ round_number(
            'sum(case when has_data then weight else 0 end) / nullif(sum(weight), 0)', 6
        ) }} as weight_coverage

    from contributions
    group by account_id, as_of_date

)

select * from final
