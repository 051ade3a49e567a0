"""A table of cachefresh's own holding one random id, which names the database in cache keys
on MySQL and MariaDB whatever route reaches it (see :mod:`cachefresh.databases`)."""

import uuid
from typing import Any

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from cachefresh import databases


def _id_model() -> type[models.Model]:
    # Not a model of the app: CACHEFRESH["MODELS"] = ["*"] would cache it, and Django's flush
    # (TransactionTestCase) would empty it.
    meta = type(
        "Meta", (), {"app_label": "cachefresh", "db_table": databases.ID_TABLE, "apps": Apps()}
    )
    fields: dict[str, Any] = {
        "__module__": __name__,
        "Meta": meta,
        "id": models.CharField(primary_key=True, max_length=32),
    }
    return type("DatabaseId", (models.Model,), fields)


def create_id_table(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.create_model(_id_model())
    quote = schema_editor.connection.ops.quote_name
    schema_editor.execute(
        f"INSERT INTO {quote(databases.ID_TABLE)} ({quote('id')}) VALUES (%s)",
        [uuid.uuid4().hex],
    )
    databases.relearn(schema_editor.connection)


def drop_id_table(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.delete_model(_id_model())
    databases.relearn(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("cachefresh", "0001_invalidation_log")]  # noqa: RUF012
    operations = [  # noqa: RUF012 -- Django reads it as a class attribute
        # atomic=False: MySQL cannot roll DDL back, and Django refuses it inside atomic().
        migrations.RunPython(create_id_table, drop_id_table, elidable=False, atomic=False),
    ]
