"""``InstallTriggers``: the log triggers as an operation in a project's own migrations.

For projects that keep every schema change in migrations rather than run
``manage.py cachefresh triggers install`` after deploying::

    from cachefresh.dblog.operations import InstallTriggers

    operations = [InstallTriggers("shop.Product", "shop.Category")]

Each model brings the tables it shares rows with by multi-table inheritance, as cachefresh
retires them together. The models are read from the migration's historical state, so the
operation works before later migrations exist. It does nothing on databases other than
PostgreSQL, and reversing it drops the triggers.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from cachefresh.conf import get_settings
from cachefresh.dblog import triggers


class InstallTriggers(Operation):
    reversible = True

    def __init__(self, *models: str) -> None:
        if not models:
            raise ValueError("InstallTriggers needs the labels of the models to cover.")
        self.models = models

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass  # triggers are not part of Django's model state

    def _tables(self, state: ProjectState) -> dict[str, str]:
        tables: dict[str, str] = {}
        for label in self.models:
            tables.update(triggers.family_tables(state.apps, label))
        return tables

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        self._execute(schema_editor, to_state, install=True)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        self._execute(schema_editor, from_state, install=False)

    def _execute(
        self, schema_editor: BaseDatabaseSchemaEditor, state: ProjectState, install: bool
    ) -> None:
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        tables = sorted(self._tables(state).items())
        if install:
            log, notify = triggers.log_table(connection), get_settings().log_notify
            statements = [
                sql
                for table, pk_column in tables
                for sql in triggers.install_sql(connection, table, pk_column, log, notify)
            ]
        else:
            statements = [
                sql for table, _ in tables for sql in triggers.drop_sql(connection, table)
            ]
        for statement in statements:
            schema_editor.execute(statement, params=None)

    def describe(self) -> str:
        return f"Install cachefresh log triggers for {', '.join(self.models)}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, list(self.models), {}
