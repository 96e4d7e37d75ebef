"""Saving several rows' fields at once, the cheap way."""

from django.db import connection


def update_alike(queryset, rows, fields):
    """Save `fields` of `rows` (model instances) through `queryset`: one UPDATE
    for each set of rows with the same values, usually one for all. Django's
    bulk_update writes a CASE for every field and row instead, which cost
    more CPU to build than the statement saved."""
    alike = {}
    for row in rows:
        values = tuple((row._meta.get_field(name).attname, row.serializable_value(name)) for name in fields)
        alike.setdefault(values, []).append(row.pk)
    for values, pks in alike.items():
        queryset.filter(pk__in=pks).update(**dict(values))


def update_each(rows, fields, *, only_if=""):
    """Save each row's own values of `fields` in one statement for all rows
    (UPDATE ... FROM VALUES, on PostgreSQL and SQLite >= 3.33), where
    update_alike would need one per distinct set of values. `only_if` is an
    SQL condition on the table a row must still meet to be written.

    Written by hand: Django has bulk_update, but its CASE per field and row
    costs more to build than the statements it saves."""
    rows = [row for row in rows if row.pk is not None]
    if not rows:
        return 0
    meta = rows[0]._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = [meta.get_field(name) for name in fields]
    cell = ", ".join(["%s", *(f"CAST(%s AS {field.db_type(connection)})" for field in columns)])
    values = ", ".join([f"({cell})"] * len(rows))
    params = []
    for row in rows:
        params.append(row.pk)
        params.extend(field.get_db_prep_save(getattr(row, field.attname), connection) for field in columns)
    # VALUES names its columns column1, column2, ... on both databases.
    assignments = ", ".join(f"{quote(field.column)} = v.column{n}" for n, field in enumerate(columns, start=2))
    condition = f" AND ({only_if})" if only_if else ""
    sql = (
        f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v "  # noqa: S608 - names from the model, values bound
        f"WHERE {table}.{quote(meta.pk.column)} = v.column1{condition}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
