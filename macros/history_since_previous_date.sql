{#- The first date this build scores (var as_of_date / as_of_dates, see int_as_of_dates). A change
    model rebuilds its rows from this date on: a (re)scored date is compared with the previous
    scored date, and is itself the previous date of the next one, which may be published already
    (a backfill of a gap between published dates). -#}
{% macro first_rescored_date() -%}
    (select min(as_of_date) from {{ ref('int_as_of_dates') }})
{%- endmacro %}


{#- The history rows a change model compares, with the given columns (published history may lack a
    column added to the model since): the dates this build scores, from the candidate model;
    every published date after the first of them; and each account's last published date before
    it, to compare with. Published rows of the dates this build scores are replaced by the
    candidate's. `model_name`: customer_health_score_history or its component companion. -#}
{% macro history_since_previous_date(model_name, columns) -%}
    select {{ columns | join(', ') }}
    from {{ ref(model_name) }}

    union all

    select
        {%- for column in columns %}
        published.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ published_history(model_name) }} as published
    left join (
        select
            account_id,
            max(as_of_date) as previous_as_of_date
        from {{ published_history('customer_health_score_history') }} as published_scores
        where as_of_date < {{ first_rescored_date() }}
        group by account_id
    ) as previous_dates
        on published.account_id = previous_dates.account_id
    where
        published.as_of_date not in (select as_of_date from {{ ref('int_as_of_dates') }})
        and (
            published.as_of_date >= {{ first_rescored_date() }}
            or published.as_of_date = previous_dates.previous_as_of_date
        )
{%- endmacro %}
