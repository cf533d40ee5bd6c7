-- Each segment's weights list every defined metric (weight 0 leaves one out on purpose), and
-- every segment that a rule can assign has weights.
with

metric_definitions as (

    select metric_name from {{ ref('metric_definitions') }}

),

segments as (

    select segment from {{ ref('segment_weights') }}
    union
    select segment from {{ ref('segment_rules') }}

),

expected as (

    select
        segments.segment,
        metric_definitions.metric_name
    from segments
    cross join metric_definitions

)

select expected.*
from expected
left join {{ ref('segment_weights') }} as segment_weights
    on
        expected.segment = segment_weights.segment
        and expected.metric_name = segment_weights.metric_name
where segment_weights.weight is null
