-- Every score from 0 gets a grade: the lowest grade starts at 0.
select min(min_score) as lowest_min_score
from {{ ref('grading_scheme') }}
having min(min_score) != 0
