{#- Points (0-100) per account, as-of date and metric, from the scoring_bands seed, with the
    segment's weight (int_segment_weights). A band with equal points at both ends is a step; with
    different points and both bounds set, points run linearly from lower to upper bound.
    Segment-specific bands win over '*' bands. A metric with no data gets the metric's
    `missing_points` if configured, else no points (it is left out and the weights of the other
    metrics are renormalised downstream). -#}

with

metric_values as (

    select * from {{ ref('int_account_metric_values') }}

),

segmented_accounts as (

    select * from {{ ref('int_account_segments') }}

),

metric_definitions as (

    select * from {{ ref('metric_definitions') }}

),

scoring_bands as (

    select * from {{ ref('scoring_bands') }}

),

segment_weights as (

    select * from {{ ref('int_segment_weights') }}

),

segmented_values as (

    select
        metric_values.account_id,
        metric_values.as_of_date,
        segmented_accounts.segment,
        metric_values.metric_name,
        metric_definitions.category,
        metric_definitions.display_name,
        metric_definitions.unit,
        {{ seed_text('metric_definitions.unit_singular') }} as unit_singular,
        {{ fill_window_placeholders(seed_text('metric_definitions.zero_value_text')) }}
            as zero_value_text,
        metric_definitions.missing_points,
        metric_values.metric_value

    from metric_values
    inner join segmented_accounts
        on
            metric_values.account_id = segmented_accounts.account_id
            and metric_values.as_of_date = segmented_accounts.as_of_date
    left join metric_definitions
        on metric_values.metric_name = metric_definitions.metric_name

),

banded_values as (

    {#- Bands meet without overlap (a singular test checks it), so a value matches at most one
        band of its segment and one '*' band: two joins instead of ranking every match. -#}
    {%- set band_columns = [
        'lower_bound', 'upper_bound', 'points_at_lower', 'points_at_upper', 'band_label',
    ] %}

    select
        segmented_values.*,
        {%- for column in band_columns %}
        case
            when segment_band.metric_name is not null then segment_band.{{ column }}
            else default_band.{{ column }}
        end as {{ column }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}

    from segmented_values
    left join scoring_bands as segment_band
        on
            segmented_values.metric_name = segment_band.metric_name
            and segmented_values.segment = segment_band.segment
            and {{ value_in_band('segmented_values.metric_value', 'segment_band') }}
    left join scoring_bands as default_band
        on
            segmented_values.metric_name = default_band.metric_name
            and default_band.segment = '*'
            and {{ value_in_band('segmented_values.metric_value', 'default_band') }}

),

pointed_values as (

    select
        *,
        case
            when metric_value is null then missing_points
            when
                points_at_lower = points_at_upper
                or lower_bound is null
                or upper_bound is null
                then points_at_lower
            else
                points_at_lower
                + (metric_value - lower_bound)
                * (points_at_upper - points_at_lower)
                / (upper_bound - lower_bound)
        end as points

    from banded_values

),

final as (

    select
        pointed_values.account_id,
        pointed_values.as_of_date,
        pointed_values.segment,
        pointed_values.metric_name,
        pointed_values.category,
        pointed_values.display_name,
        pointed_values.unit,
        pointed_values.unit_singular,
        pointed_values.zero_value_text,
        pointed_values.metric_value,
        pointed_values.metric_value is not null as has_data,
        case
            when pointed_values.metric_value is null then 'no data'
            else pointed_values.band_label
        end as band_label,
        cast(pointed_values.points as {{ type_double() }}) as points,
        cast(segment_weights.weight as {{ type_double() }}) as weight

    from pointed_values
    left join segment_weights
        on
            pointed_values.segment = segment_weights.segment
            and pointed_values.metric_name = segment_weights.metric_name

)

select * from final
