"""cachefresh's own migrations apply and reverse on every database, MySQL/MariaDB included,
where DDL cannot be rolled back and Django refuses it inside ``atomic()``."""

import pytest
from django.core.management import call_command
from django.db import connections

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def tables(alias: str) -> set[str]:
    return set(connections[alias].introspection.table_names())


def test_migrate_backwards_and_forwards(backend):
    ours = {"cachefresh_log", "cachefresh_database"}
    assert ours <= tables(backend)
    try:
        call_command("migrate", "cachefresh", "zero", database=backend, verbosity=0)
        assert not ours & tables(backend)
    finally:  # the rest of the run needs the tables
        call_command("migrate", "cachefresh", database=backend, verbosity=0)
    assert ours <= tables(backend)
