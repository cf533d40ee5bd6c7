{#- An outreach list as a worklist a customer-success team can get through: the rows of
    `matches` (a relation or CTE with account_id, as_of_date and segment) ranked per as-of date by
    `order_by` (SQL order terms, e.g. 'arr_at_risk desc, health_score asc'; account_id breaks
    ties), and capped to `capacity`, one entry of var outreach_capacity:
    - {per: overall, top: N}: the first N accounts of each as-of date;
    - {per: segment, top: N}: the first N of each segment on each date;
    - none, or top null: every match (uncapped).
    Adds capacity_rank (the rank within what is capped: the date, or the date's segment),
    accounts_matched (the date's matches before the cap, the same on each of its rows, so that
    accounts_matched minus the rows kept is what the cap left out) and outreach_rank (1 to the
    number kept, per date: the order to work the list in). -#}
{% macro capped_worklist(matches, order_by, capacity) -%}
    {%- set capacity = capacity or {} -%}
    {%- set per = capacity.get('per', 'overall') -%}
    {%- set top = capacity.get('top') -%}
    {%- if per not in ('overall', 'segment') -%}
        {{ exceptions.raise_compiler_error(
            "outreach_capacity: per must be 'overall' or 'segment', not '" ~ per ~ "'"
        ) }}
    {%- endif -%}
    {%- if top is not none and (top is not number or top < 1) -%}
        {{ exceptions.raise_compiler_error(
            "outreach_capacity: top must be a whole number of at least 1, or null, not '"
            ~ top ~ "'"
        ) }}
    {%- endif -%}
    select
        ranked.*,
        -- bigint on every engine (Spark's row_number() is an int).
        cast(row_number() over (
            partition by ranked.as_of_date order by {{ order_by }}, ranked.account_id
        ) as bigint) as outreach_rank

    from (
        select
            matched.*,
            cast(row_number() over (
                partition by matched.as_of_date{{ ', matched.segment' if per == 'segment' }}
                order by {{ order_by }}, matched.account_id
            ) as bigint) as capacity_rank,
            count(*) over (partition by matched.as_of_date) as accounts_matched

        from {{ matches }} as matched
    ) as ranked
    {%- if top is not none %}
    where ranked.capacity_rank <= {{ top | int }}
    {%- endif %}
{%- endmacro %}
