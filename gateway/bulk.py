"""Saving several rows' fields at once, the cheap way."""

from django.db import connections
from django.db.models import Case, F, Value, When
from django.db.models.functions import Cast


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


# A row whose changes leave the field out: it keeps its value.
_KEPT = object()


def update_each(queryset, changes):
    """Save rows that each have values of their own, in ONE UPDATE through
    `queryset`. `changes` maps a row's pk to {field name: value} (values
    hashable); a field a row's changes leave out keeps its value in that row.

    Each field is set with a CASE that has one branch per distinct value, not
    one per row as in Django's bulk_update (whose CPU cost is in building
    those branches): rows that agree share a branch, and a field with one
    value for every row is set plainly. Returns the number of rows updated."""
    if not changes:
        return 0
    connection = connections[queryset.db]
    names = dict.fromkeys(name for values in changes.values() for name in values)
    assignments = {name: _assignment(queryset.model, name, changes, connection) for name in names}
    return queryset.filter(pk__in=list(changes)).update(**assignments)


def _assignment(model, name, changes, connection):
    """What `name` is set to: its one value, or a CASE on the rows' pks."""
    field = model._meta.get_field(name)
    pks_by_value = {}
    for pk, values in changes.items():
        pks_by_value.setdefault(values.get(name, _KEPT), []).append(pk)
    if len(pks_by_value) == 1 and _KEPT not in pks_by_value:
        return next(iter(pks_by_value))
    # The rows that keep their value, or else the largest group, need no
    # branch of their own: they are the CASE's default.
    default = _KEPT if _KEPT in pks_by_value else max(pks_by_value, key=lambda value: len(pks_by_value[value]))
    branches = [
        When(pk__in=pks, then=Value(value, output_field=field))
        for value, pks in pks_by_value.items()
        if value is not default
    ]
    otherwise = F(name) if default is _KEPT else Value(default, output_field=field)
    case = Case(*branches, default=otherwise, output_field=field)
    # PostgreSQL cannot tell the type of a CASE of bound literals by itself.
    return Cast(case, output_field=field) if connection.features.requires_casted_case_in_updates else case
