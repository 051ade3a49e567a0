"""The log table, created by cachefresh's own migration on every database vendor.

It is not a model of the app: a model would be matched by ``CACHEFRESH['MODELS'] = ['*']`` and
then get triggers of its own, which would log their own inserts. A throwaway model in an
isolated app registry still lets Django write the DDL for each vendor.
"""

from __future__ import annotations

from typing import Any

from django.apps.registry import Apps
from django.db import models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models.functions import Now

from cachefresh.dblog import LOG_TABLE


def _log_model() -> type[models.Model]:
    meta = type("Meta", (), {"app_label": "cachefresh", "db_table": LOG_TABLE, "apps": Apps()})
    fields: dict[str, Any] = {
        "__module__": __name__,
        "Meta": meta,
        "id": models.BigAutoField(primary_key=True),
        "table_name": models.TextField(),
        # NULL: every row of the table ("whole table", from TRUNCATE).
        "row_pk": models.TextField(null=True),
        "logged_at": models.DateTimeField(db_default=Now()),
    }
    return type("InvalidationLog", (models.Model,), fields)


def create_log_table(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.create_model(_log_model())


def drop_log_table(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.delete_model(_log_model())
