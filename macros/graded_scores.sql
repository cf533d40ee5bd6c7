{#- The rows of `relation` with the grade and status of their score from the grading scheme: the
    grade with the highest min_score the score reaches (bounds inclusive), as `grade` and
    `score_status`. relation: a CTE with one row per key_columns and the score in score_column;
    grading_scheme: the grading_scheme seed's CTE (the model's import). Every graded relation
    (account scores, parent scores) is graded here, so a grade means the same everywhere. -#}
{% macro graded_scores(relation, score_column, key_columns, grading_scheme='grading_scheme') -%}
    select *

    from (
        select
            {{ relation }}.*,
            {{ grading_scheme }}.grade,
            {{ grading_scheme }}.status as score_status,
            row_number() over (
                partition by
                    {%- for column in key_columns %}
                    {{ relation }}.{{ column }}{{ ',' if not loop.last }}
                    {%- endfor %}
                order by {{ grading_scheme }}.min_score desc
            ) as grade_rank

        from {{ relation }}
        inner join {{ grading_scheme }}
            on {{ relation }}.{{ score_column }} >= {{ grading_scheme }}.min_score
    ) as ranked_grades
    where grade_rank = 1
{%- endmacro %}
