"""A database made by the previous main's migrations keeps every row when this code's migrations run.

Issue 18 moved modules between packages, never a model between apps; should a
later change move one, its migration must keep the table (SeparateDatabaseAndState
or db_table), and this test says so. It builds the previous main's schema,
puts a row in every table of the project's apps (and of the users and tokens
they point at), migrates to this code's newest migrations and reads every row
back, field by field. Update PREVIOUS_MAIN when a change lands migrations, and
MOVED when a model moves (its old label -> its new one).
"""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.apps import apps as current_apps
from django.core.management import call_command
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor

# The newest migration of each app on the main branch before this code.
PREVIOUS_MAIN = {
    "novels": "0004_novel_submission_key",
    "voting": "0002_round_closed_by_round_extensions_and_more",
    "management": "0005_blind_rounds",
}
FILLED_APPS = ("novels", "voting", "management", "auth", "authtoken")
MOVED: dict[str, str] = {}  # "app.Model" as it was -> as it is

pytestmark = pytest.mark.django_db(transaction=True)

_counter = itertools.count(1)


def _value(field: models.Field):
    """A valid value for a required field, different for every row (unique fields stay unique)."""
    n = next(_counter)
    if field.choices:
        return field.choices[n % len(field.choices)][0]
    if isinstance(field, models.BooleanField):
        return bool(n % 2)
    if isinstance(field, models.DateTimeField):
        return datetime.datetime(2026, 11, 1, 12, n % 60, tzinfo=datetime.UTC)
    if isinstance(field, models.DateField):
        return datetime.date(2026, 11, 1 + n % 28)
    if isinstance(field, (models.FloatField, models.DecimalField)):
        return n + 0.5
    if isinstance(field, models.IntegerField):  # every integer kind, small enough for all of them
        return n % 30000 + 1
    if isinstance(field, models.JSONField):
        return {"row": n, "텍스트": "등대"}
    if isinstance(field, (models.CharField, models.TextField)):
        text = f"행{n}-등대"
        return text[: field.max_length] if field.max_length else text
    raise AssertionError(f"no test value for {field.model.__name__}.{field.name} ({type(field).__name__})")


def _fill(state_apps, model, made: dict) -> models.Model:
    """One row of the historical model, with a row of each model it points at (made once)."""
    label = model._meta.label
    if label in made:
        return made[label]
    values = {}
    for field in model._meta.concrete_fields:
        if isinstance(field, models.AutoField):  # BigAutoField too
            continue
        if field.is_relation:
            if field.null:
                continue  # filled in afterwards (_link), when every table has its row
            values[field.name] = _fill(state_apps, field.related_model, made)
        elif field.has_default():
            values[field.name] = field.get_default()
        else:
            values[field.name] = _value(field)
    row = model._default_manager.create(**values)
    made[label] = row
    return row


def _link(made: dict) -> None:
    """Point every optional relation at the row of its kind, so that those columns are checked too."""
    for row in made.values():
        optional = [f for f in row._meta.concrete_fields if f.is_relation and f.null]
        for field in optional:
            setattr(row, field.name, made.get(field.related_model._meta.label))
        if optional:
            row.save(update_fields=[f.name for f in optional])


def _snapshot(model) -> dict:
    return {
        row["pk"] if "pk" in row else row[model._meta.pk.attname]: row
        for row in model._default_manager.order_by("pk").values(*[f.attname for f in model._meta.concrete_fields])
    }


def test_a_database_of_the_previous_main_keeps_every_row_after_migrating():
    executor = MigrationExecutor(connection)
    leaves = dict(executor.loader.graph.leaf_nodes())
    previous = [(app, PREVIOUS_MAIN.get(app, name)) for app, name in leaves.items()]
    executor.migrate(previous)
    old_apps = executor.loader.project_state(previous).apps

    made: dict = {}
    old_models = [m for m in old_apps.get_models() if m._meta.app_label in FILLED_APPS and not m._meta.proxy]
    for model in old_models:
        _fill(old_apps, model, made)
    _link(made)
    before = {m._meta.label: _snapshot(m) for m in old_models}
    assert all(before.values()), f"a table got no row: {[k for k, v in before.items() if not v]}"
    assert {"novels.Turn", "voting.GenerationJob", "management.BlindVote"} <= set(before)

    call_command("migrate", verbosity=0)

    for label, rows in before.items():
        model = current_apps.get_model(MOVED.get(label, label))
        after = _snapshot(model)
        assert after.keys() == rows.keys(), f"{label}: rows {sorted(rows)} became {sorted(after)}"
        for pk, row in rows.items():
            for name, value in row.items():
                if name in after[pk]:
                    assert after[pk][name] == value, f"{label} {pk}: {name} was {value!r}, is {after[pk][name]!r}"


def test_no_model_change_is_left_without_its_migration():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
