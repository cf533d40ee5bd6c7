{#- On an incremental run of a model derived from history: the rows of `history_relation` it needs,
    namely the dates being (re)scored in this run and later ones, plus each account's latest
    scored date before them (to compare with). A full build reads all of history. -#}
{% macro first_rescored_date() -%}
    (select min(as_of_date) from {{ ref('int_as_of_dates') }})
{%- endmacro %}


{% macro history_since_previous_date(history_relation) -%}
    {%- if is_incremental() -%}
    select history.*
    from {{ history_relation }} as history
    left join (
        select
            account_id,
            max(as_of_date) as previous_as_of_date
        from {{ ref('customer_health_score_history') }}
        where as_of_date < {{ first_rescored_date() }}
        group by account_id
    ) as previous_dates
        on history.account_id = previous_dates.account_id
    where
        history.as_of_date >= {{ first_rescored_date() }}
        or history.as_of_date = previous_dates.previous_as_of_date
    {%- else -%}
    select * from {{ history_relation }}
    {%- endif -%}
{%- endmacro %}
