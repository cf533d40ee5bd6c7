-- Per metric and segment, bands sorted by lower bound must meet exactly: no gaps (a value with
-- no band) and no overlaps (a value in two bands).
with

ordered_bands as (

    select
        metric_name,
        segment,
        lower_bound,
        upper_bound,
        lead(lower_bound) over (
            partition by metric_name, segment order by lower_bound nulls first
        ) as next_lower_bound,
        row_number() over (
            partition by metric_name, segment order by lower_bound nulls first
        ) as band_number,
        count(*) over (partition by metric_name, segment) as band_count
    from {{ ref('scoring_bands') }}

)

select *
from ordered_bands
where
    (band_number < band_count and (upper_bound is null or upper_bound != next_lower_bound))
    or (band_number = band_count and upper_bound is not null)
