"""The text search index of scenarios and provisions (``benchmark.search``): on PostgreSQL, two SQL functions,
a GIN expression index on each table and statistics on the exact check's expressions; nothing elsewhere (SQLite
searches with ``icontains`` alone). On a table of a million rows the index takes about three minutes to build."""

from django.db import migrations

# Every character and every pair of adjacent characters of the lower-cased parts joined by newlines (pairs
# from even offsets, then from odd ones: two regexp scans, far faster than a substr() per character). GIN
# keeps each distinct token once per row. PARALLEL RESTRICTED keeps a search's plan in one process: a search
# reads a page of rows, and starting workers costs more (20-60 ms on two cores) than it saves.
TOKENS_FUNCTION = r"""
CREATE OR REPLACE FUNCTION medes_search_tokens(VARIADIC parts text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL RESTRICTED AS $$
  SELECT array(
    SELECT unnest(string_to_array(t, NULL))
    UNION ALL SELECT (regexp_matches(t, '..', 'g'))[1]
    UNION ALL SELECT (regexp_matches(substr(t, 2), '..', 'g'))[1])
  FROM (SELECT lower(array_to_string(parts, E'\n')) AS t) AS lowered
$$
"""
# What a row containing the query must hold: the query's pairs, or its one character.
QUERY_FUNCTION = r"""
CREATE OR REPLACE FUNCTION medes_query_tokens(query text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN length(t) < 2 THEN ARRAY[t] ELSE array(
    SELECT (regexp_matches(t, '..', 'g'))[1]
    UNION SELECT (regexp_matches(substr(t, 2), '..', 'g'))[1]) END
  FROM (SELECT lower(query) AS t) AS lowered
$$
"""
# (table, the index's fields in order: benchmark.search spells its queries with the same ones)
INDEXES = (("benchmark_scenario", "stem, norm"), ("benchmark_provision", "label, text"))
# Statistics on the exact check's expressions (icontains is UPPER(field) LIKE UPPER(%s)): with them the planner
# knows that 患者 is in half the rows and reads the newest rows in order, where without them it guesses 0.5 %,
# goes through the index and sorts half a million rows.
STATISTICS = (
    ("benchmark_scenario", "stem", "upper(stem)"),
    ("benchmark_scenario", "norm", "upper(norm)"),
    ("benchmark_provision", "label", "upper(label::text)"),
    ("benchmark_provision", "text", "upper(text)"),
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(TOKENS_FUNCTION)
    schema_editor.execute(QUERY_FUNCTION)
    for table, columns in INDEXES:
        schema_editor.execute(f"CREATE INDEX {table}_text_search ON {table} USING gin (medes_search_tokens({columns}))")
    for table, field, expression in STATISTICS:
        schema_editor.execute(f"CREATE STATISTICS {table}_{field}_upper ON ({expression}) FROM {table}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, field, _expression in STATISTICS:
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {table}_{field}_upper")
    for table, _columns in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {table}_text_search")
    schema_editor.execute("DROP FUNCTION IF EXISTS medes_search_tokens(VARIADIC text[])")
    schema_editor.execute("DROP FUNCTION IF EXISTS medes_query_tokens(text)")


class Migration(migrations.Migration):
    dependencies = [
        ("benchmark", "0009_verbose_names"),
    ]

    operations = [
        migrations.RunPython(create, drop, elidable=False),
    ]
