{#- True when value lies in the scoring band aliased `band` (a null bound is open-ended; the
    lower bound is inclusive, the upper exclusive). -#}
{% macro value_in_band(value, band) -%}
    ({{ band }}.lower_bound is null or {{ value }} >= {{ band }}.lower_bound)
    and ({{ band }}.upper_bound is null or {{ value }} < {{ band }}.upper_bound)
{%- endmacro %}
