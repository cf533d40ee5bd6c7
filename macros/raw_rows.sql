{#- The rows of a raw table, as a base model reads them: a select of the table's declared columns
    (by name) and too_many_fields_detail. relation: the base model's source() (base models
    stay the only place that names sources).

    On DuckDB with CSV files (the default), the source reads each line positionally, as fields
    field_1 ... field_N (dbt_project.yml, `sources:`), so that a line with more fields than the
    header keeps them instead of losing them silently. The header line (the file's first record)
    is read when the model compiles and gives each declared column's position, matched by name
    (trimmed, case-insensitive). A column marked `required` that the header lacks fails the
    compilation, naming the table, the file and the column; any other declared column that it
    lacks is null.
    - too_many_fields_detail: for a record with non-empty fields beyond the header's count,
      `record <n>: fields beyond the header's <count> columns: <the extra fields, '|'-separated>`
      (null otherwise); base models quarantine such a row as too_many_fields. <n> is the record's
      number in the file, the header being record 1: the scan is single-threaded
      (parallel = false), so it keeps the file's order and row_number() numbers the records in
      it. A record whose quoted fields hold line breaks counts as one, so after such a record <n>
      is smaller than the line's number in a text editor. Extra fields that are all empty lose
      nothing and are not flagged; fields past field_N are not read (the record is flagged all
      the same, as field_N is then beyond the header).
    Cost: one extra read of the header line per compilation, and a window over the file's rows
    (row_number), which the single-threaded CSV scan already orders.

    Elsewhere (Parquet files, PostgreSQL and Spark tables, unit-test fixtures) the table's columns
    are read as they are, with too_many_fields_detail null. -#}
{% macro raw_rows(relation) -%}
    {%- set read = relation | string -%}
    {%- if target.type == 'duckdb' and execute and read.lstrip().startswith('read_csv(') -%}
        {{ return(positional_csv_rows(relation, read)) }}
    {%- endif -%}
    select
        *,
        cast(null as {{ dbt.type_string() }}) as too_many_fields_detail
    from {{ relation }}
{%- endmacro %}


{% macro positional_csv_rows(relation, read) -%}
    {%- set source = raw_source_with_identifier(relation.identifier) -%}
    {%- set table = source.source_name ~ '.' ~ source.name
        ~ ' (' ~ source.identifier ~ '.csv)' -%}
    {%- set header = run_query('select * from ' ~ read ~ ' limit 1') -%}
    {%- set fields = header.column_names | list -%}
    {%- if header.rows | length == 0 -%}
        {{ exceptions.raise_compiler_error('raw table ' ~ table ~ ' is empty: no header line') }}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for value in header.rows[0] -%}
        {%- do names.append((value or '') | trim | lower) -%}
    {%- endfor -%}
    {%- set counted = namespace(fields=0) -%}
    {%- for name in names -%}
        {%- if name -%}{%- set counted.fields = loop.index -%}{%- endif -%}
    {%- endfor -%}
    {%- if counted.fields >= fields | length -%}
        {{ exceptions.raise_compiler_error('raw table ' ~ table ~ ': the header has '
            ~ fields | length ~ ' fields or more; at most ' ~ (fields | length - 1)
            ~ ' are read (the columns listed in `sources:` in dbt_project.yml)') }}
    {%- endif -%}
    {%- set required = raw_columns_with(source, 'required') -%}
    {%- set selected = [] -%}
    {%- for column in source.columns.values() -%}
        {%- set wanted = column.name | lower -%}
        {%- set position = namespace(index=none) -%}
        {%- for name in names -%}
            {%- if position.index is none and name == wanted -%}
                {%- set position.index = loop.index0 -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if position.index is not none -%}
            {%- do selected.append(adapter.quote(fields[position.index]) ~ ' as ' ~ column.name) -%}
        {%- elif column.name in required -%}
            {{ exceptions.raise_compiler_error('raw table ' ~ table ~ ': required column '
                ~ column.name ~ ' is not in the header (' ~ names | select | join(', ') ~ ')') }}
        {%- else -%}
            {%- do selected.append('cast(null as ' ~ dbt.type_string() ~ ') as ' ~ column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set extras = [] -%}
    {%- for field in fields[counted.fields:] -%}
        {%- do extras.append(adapter.quote(field)) -%}
    {%- endfor -%}
    select
        {%- for expression in selected %}
        {{ expression }},
        {%- endfor %}
        case
            when extra_fields != ''
                then 'record ' || source_record || ': fields beyond the header''s '
                    || '{{ counted.fields }} columns: ' || extra_fields
        end as too_many_fields_detail
    from (
        select
            row_number() over () as source_record,
            concat_ws('|', {{ extras | join(', ') }}) as extra_fields,
            *
        from {{ read }}
    ) as numbered_records
    where source_record > 1
{%- endmacro %}


{#- The raw source whose identifier (file name) is identifier. -#}
{% macro raw_source_with_identifier(identifier) -%}
    {%- for source in raw_sources() if source.identifier == identifier -%}
        {{ return(source) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error('no raw source reads ' ~ identifier) }}
{%- endmacro %}
