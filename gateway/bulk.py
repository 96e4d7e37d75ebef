"""Saving several rows' fields at once, the cheap way; and claiming rows."""

from django.db import connection, connections


def save_fields(queryset, rows, fields):
    """Save `fields` (names or attnames) of `rows` (model instances) through
    `queryset`, in one UPDATE (see update_each)."""
    return update_each(queryset, {row.pk: {name: getattr(row, name) for name in fields} for row in rows})


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


def take(model, ids, assignments, condition, returning=("id",)):
    """Claim rows: UPDATE those of `ids` that meet `condition`, in one
    statement, and return what RETURNING gives (a tuple a row) for each row
    that this very statement took, as the database itself says. (A value
    made unique to the claim and looked up again would only be unique by
    chance: two workers claiming in the same microsecond would each find the
    other's rows.) `assignments` and `condition`: (SQL, params) over the
    model's own columns.

    On PostgreSQL the rows are locked in id order before they are updated,
    so that two claims over some of the same rows wait for each other rather
    than deadlock; a row waited for is checked again as the other claim left
    it. SQLite before 3.35 has no RETURNING: there one UPDATE a row, each
    saying whether it took its row (the other returned values are None)."""
    set_sql, set_params = assignments
    where_sql, where_params = condition
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if not _update_can_return():
            taken = []
            one = f"UPDATE {table} SET {set_sql} WHERE id = %s AND {where_sql}"  # noqa: S608 - our names, values bound
            for pk in ids:
                cursor.execute(one, [*set_params, pk, *where_params])
                if cursor.rowcount:
                    taken.append((pk, *[None] * (len(returning) - 1)))
            return taken
        marks = ", ".join(["%s"] * len(ids))
        lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
        due = f"SELECT id FROM {table} WHERE id IN ({marks}) AND {where_sql} ORDER BY id{lock}"  # noqa: S608 - likewise
        cursor.execute(
            f"UPDATE {table} SET {set_sql} WHERE id IN ({due}) RETURNING {', '.join(returning)}",  # noqa: S608 - likewise
            [*set_params, *ids, *where_params],
        )
        return cursor.fetchall()


def _update_can_return():
    # SQLite has RETURNING from 3.35, for UPDATE as for INSERT (Django's flag).
    return connection.features.can_return_columns_from_insert
