"""``InstallTriggers``: the log triggers as an operation in a project's own migrations.

For projects that keep every schema change in migrations rather than run
``manage.py cachefresh triggers install`` after deploying::

    from cachefresh.dblog.operations import InstallTriggers

    operations = [InstallTriggers("shop.Product", "shop.Category")]

Each model brings the tables it shares rows with by multi-table inheritance, as cachefresh
retires them together. The models are read from the migration's historical state, so the
operation works before later migrations exist. It installs each database's own triggers
(PostgreSQL, MySQL/MariaDB, SQLite: :mod:`cachefresh.dblog.dialect`), does nothing on a
database the log does not support, and reversing it drops the triggers.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from cachefresh.dblog import triggers
from cachefresh.dblog.dialect import dialect, supported


class InstallTriggers(Operation):
    reversible = True

    def __init__(self, *models: str) -> None:
        if not models:
            raise ValueError("InstallTriggers needs the labels of the models to cover.")
        self.models = models

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        pass  # triggers are not part of Django's model state

    def _tables(self, state: ProjectState, connection: BaseDatabaseWrapper) -> dict[str, str]:
        # Only the tables Django creates on this database, as its own operations do.
        tables: dict[str, str] = {}
        for label in self.models:
            tables.update(triggers.family_tables(state.apps, label, connection))
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
        if not supported(connection):
            return
        found = dialect(connection)
        for statement in triggers.statements(
            connection, found, self._tables(state, connection), install
        ):
            schema_editor.execute(statement, params=None)

    def describe(self) -> str:
        return f"Install cachefresh log triggers for {', '.join(self.models)}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, list(self.models), {}
