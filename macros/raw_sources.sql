{#- The raw tables and their columns, read from the dbt graph: the sources in
    models/staging/*/_*__sources.yml are their only declaration. The graph exists once dbt
    executes; while it parses, these macros return nothing, so a model can use them for its SQL
    but not to decide which models it ref()s. -#}

{#- Every raw source table of this project (meta raw, see dbt_project.yml), in a stable order. -#}
{% macro raw_sources() -%}
    {%- set sources = [] -%}
    {%- if execute -%}
        {%- for source in graph.sources.values()
            if source.package_name == project_name and source.meta.raw -%}
            {%- do sources.append(source) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(sources | sort(attribute='unique_id')) }}
{%- endmacro %}


{#- The source table source_name.table_name (none while dbt parses). -#}
{% macro raw_source(source_name, table_name) -%}
    {%- for source in raw_sources() -%}
        {%- if source.source_name == source_name and source.name == table_name -%}
            {{ return(source) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if execute -%}
        {{ exceptions.raise_compiler_error('no source ' ~ source_name ~ '.' ~ table_name) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}


{#- The columns of a source table marked with meta flag `flag` (required, key), in declared
    order. -#}
{% macro raw_columns_with(source, flag) -%}
    {%- set names = [] -%}
    {%- for column in (source.columns.values() if source else []) -%}
        {%- if (column.config.meta or column.meta or {}).get(flag) -%}
            {%- do names.append(column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}


{#- The raw values a quarantined row shows (raw_record), and that tell exact duplicates apart:
    every declared column of the raw table, in declared order, but those marked
    `raw_record: false` (an outcome column staging never reads). Not the `required` columns:
    which columns a table must have and which values describe a row are separate questions. -#}
{% macro raw_record_columns(source_name, table_name) -%}
    {%- set source = raw_source(source_name, table_name) -%}
    {%- set names = [] -%}
    {%- for column in (source.columns.values() if source else []) -%}
        {%- if (column.config.meta or column.meta or {}).get('raw_record', true) -%}
            {%- do names.append(column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}


{#- The column that identifies a row of a raw table (marked `key`). -#}
{% macro raw_key_column(source) -%}
    {%- set keys = raw_columns_with(source, 'key') -%}
    {%- if keys | length != 1 -%}
        {{ exceptions.raise_compiler_error(
            'source ' ~ source.unique_id ~ ' needs exactly one column marked key, has: '
            ~ (keys | join(', ') or 'none')) }}
    {%- endif -%}
    {{ return(keys[0]) }}
{%- endmacro %}


{#- The model that reads a raw table (its base model: base models are the only models that
    select from sources). -#}
{% macro base_model_of(source) -%}
    {%- set readers = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and source.unique_id in node.depends_on.nodes -%}
            {%- do readers.append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if readers | length != 1 -%}
        {{ exceptions.raise_compiler_error(
            'source ' ~ source.unique_id ~ ' must be read by exactly one (base) model, is read by: '
            ~ (readers | map(attribute='name') | join(', ') or 'none')) }}
    {%- endif -%}
    {{ return(readers[0]) }}
{%- endmacro %}


{#- The raw table a model stages: the one source upstream of it (through its base model). A model
    that reads a source stages that source only: the parent base models it also reads (to
    quarantine the children of quarantined parents) stage their own. -#}
{% macro raw_source_upstream_of(node) -%}
    {%- set walk = namespace(upstream=node.depends_on.nodes | list, sources=[]) -%}
    {%- for depth in range(10) if walk.upstream -%}
        {%- set next_upstream = [] -%}
        {%- for unique_id in walk.upstream -%}
            {%- if unique_id in graph.sources and unique_id not in walk.sources -%}
                {%- do walk.sources.append(unique_id) -%}
            {%- elif unique_id in graph.nodes -%}
                {%- set reads = graph.nodes[unique_id].depends_on.nodes -%}
                {%- set read_sources = reads | select('in', graph.sources) | list -%}
                {%- do next_upstream.extend(read_sources or reads) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set walk.upstream = next_upstream -%}
    {%- endfor -%}
    {%- if walk.sources | length != 1 -%}
        {{ exceptions.raise_compiler_error(node.unique_id ~ ' must stage exactly one source, found: '
            ~ (walk.sources | join(', ') or 'none')) }}
    {%- endif -%}
    {{ return(graph.sources[walk.sources[0]]) }}
{%- endmacro %}
