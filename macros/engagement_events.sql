{#- Engagement events as var `engagement_event_types` declares them: channel -> its event types. -#}

{#- Whether `channel` is a channel of var engagement_event_types. -#}
{% macro is_known_engagement_channel(channel) -%}
    {{ channel }} in ({{ sql_literal_list(var('engagement_event_types').keys() | list) }})
{%- endmacro %}


{#- Whether `event_type` is one of the event types var engagement_event_types lists for
    `channel`. -#}
{% macro is_known_engagement_event(channel, event_type) -%}
    (
    {%- for name, event_types in var('engagement_event_types').items() %}
        ({{ channel }} = {{ sql_literal(name) }}
            and {{ event_type }} in ({{ sql_literal_list(event_types) }}))
        {%- if not loop.last %} or{% endif %}
    {%- endfor %}
    )
{%- endmacro %}
