"""Saving several rows' fields at once, the cheap way."""

from django.db import connections


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


def update_each(queryset, changes):
    """Save rows that each have values of their own, in ONE UPDATE through
    `queryset` (the model's manager, or a filter on the table's own columns
    that a row must still meet). `changes` maps a row's pk to {field name:
    value}; a field a row's changes leave out keeps its value in that row.
    Returns the number of rows updated.

    Written by hand (UPDATE ... FROM VALUES, on PostgreSQL and SQLite >= 3.33):
    Django's bulk_update builds a CASE branch for every field of every row,
    which cost more CPU than the statements it saved."""
    if not changes:
        return 0
    connection = connections[queryset.db]
    meta = queryset.model._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    names = list(dict.fromkeys(name for values in changes.values() for name in values))
    fields = [meta.get_field(name) for name in names]
    # A field some row leaves out gets a flag column: keep that row's value.
    partial = {name for name in names if any(name not in values for values in changes.values())}
    cell = ["%s"]
    assignments = []
    for field, name in zip(fields, names, strict=True):
        cell.append(_typed("%s", field, connection))
        value = f"v.column{len(cell)}"
        if name in partial:
            cell.append("%s")
            value = f"CASE WHEN v.column{len(cell)} THEN {table}.{quote(field.column)} ELSE {value} END"
        assignments.append(f"{quote(field.column)} = {value}")
    params = []
    for pk, values in changes.items():
        params.append(pk)
        for field, name in zip(fields, names, strict=True):
            params.append(field.get_db_prep_save(values.get(name), connection))
            if name in partial:
                params.append(name not in values)
    rows = ", ".join([f"({', '.join(cell)})"] * len(changes))
    where, where_params = "", []
    if queryset.query.where:
        condition, where_params = queryset.query.get_compiler(connection=connection).compile(queryset.query.where)
        where = f" AND ({condition})"
    # VALUES names its columns column1, column2, ... on both databases.
    sql = (
        f"UPDATE {table} SET {', '.join(assignments)} FROM (VALUES {rows}) AS v "  # noqa: S608 - names from the model, values bound
        f"WHERE {table}.{quote(meta.pk.column)} = v.column1{where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *where_params])
        return cursor.rowcount


def _typed(placeholder, field, connection):
    # PostgreSQL types VALUES columns by their first row (NULL: text) and
    # will not assign text to other types. SQLite converts by the column's
    # affinity, and its CAST to a date type would make a number of it.
    if connection.vendor == "postgresql":
        return f"CAST({placeholder} AS {field.db_type(connection)})"
    return placeholder
