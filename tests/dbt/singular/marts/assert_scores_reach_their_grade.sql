-- Each score's grade and score_status are one row of the grading_scheme seed whose min_score the
-- score reaches, and the status shown differs from score_status only on a low-coverage score.
-- (Which grade a score gets, and the low-coverage cap, are unit-tested on the model itself.)
select
    scores.account_id,
    scores.as_of_date,
    scores.health_score,
    scores.grade,
    scores.score_status,
    scores.status,
    scores.is_low_coverage,
    grading_scheme.min_score,
    grading_scheme.status as grade_status
from {{ ref('customer_health_scores') }} as scores
left join {{ ref('grading_scheme') }} as grading_scheme
    on scores.grade = grading_scheme.grade
where
    grading_scheme.grade is null
    or scores.health_score < grading_scheme.min_score
    or scores.score_status != grading_scheme.status
    or (not scores.is_low_coverage and scores.status != scores.score_status)
