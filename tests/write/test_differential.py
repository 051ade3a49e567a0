"""Same as Django, shown by difference: random sequences of writes, and after each step every
cached answer compared with the database's own (tests/support/differential_oracle.py).

The steps (tests/support/differential_writes.py and differential_shapes.py) are plain Django
writes of every kind: saves (whole, ``update_fields``, ``F()``), ``update()`` with joins and
``F()``, deletes through relations with ``CASCADE``/``SET_NULL`` (and Django 6.1's ``DB_*``),
bulk creates and upserts, ``bulk_update``, ``update_or_create``, raw SQL on Django's cursor;
alone, several in a row with no read between, or inside a transaction that commits or rolls
back, read from inside. The models (tests/diffapp) have a unique generated field,
``db_default``, JSON, Decimal, multi-table inheritance, a proxy and nullable foreign keys.

Runs on every backend pair, and on the Redis pairs with the near cache on too. Derandomized:
a failure in CI is the same failure here. ``CACHEFRESH_DIFFERENTIAL_EXAMPLES=500`` searches
longer.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connections, transaction
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from cachefresh import near, stats
from tests.diffapp import models as diff
from tests.support.differential_oracle import Oracle
from tests.support.differential_shapes import seed
from tests.support.differential_writes import Op, ops, run

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

#: Every cached model of tests/diffapp this database has a table for.
CACHED = ("Owner", "Item", "ItemProxy", "Base", "Derived", "Box", "Part", "Piece", "Tag", "Chip")
#: Children first: emptied in this order between examples.
EMPTIED = ("Chip", "Tag", "Piece", "Part", "Box", "Item", "Derived", "Base", "Owner")

EXAMPLES = int(os.environ.get("CACHEFRESH_DIFFERENTIAL_EXAMPLES", "5"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=10,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
#: Every step of differential_writes, and of differential_shapes (imported above, which
#: registers its steps as it loads).
STEPS = ops()


class Rollback(Exception):
    pass


def models_on(alias: str) -> list[Any]:
    connection = connections[alias]
    return [
        getattr(diff, name)
        for name in CACHED
        if hasattr(diff, name) and getattr(diff, name)._meta.can_migrate(connection)
    ]


class Differential(RuleBasedStateMachine):
    """One example: a fresh key namespace, a few rows, then random steps."""

    alias = "default"
    near_cache = False

    def __init__(self) -> None:
        super().__init__()
        config = {**django_settings.CACHEFRESH, "KEY_PREFIX": f"d{uuid.uuid4().hex[:12]}"}
        if self.near_cache:
            config["NEAR_CACHE"] = True
        self.settings = override_settings(CACHEFRESH=config)
        self.settings.enable()
        if self.near_cache:
            cache = near.current()
            assert cache is not None and cache.wait_serving(5), "tracking did not come up"
        self.oracle = Oracle(models_on(self.alias))

    def teardown(self) -> None:
        for name in EMPTIED:
            model = getattr(diff, name, None)
            if model is not None and model in self.oracle.checked:
                model._base_manager.all().delete()
        self.settings.disable()

    @initialize()
    def seed(self) -> None:
        seed(self.alias)

    @rule(op=STEPS)
    def write(self, op: Op) -> None:
        run(op, self.alias, savepoint=False)

    @rule(ops=st.lists(STEPS, min_size=2, max_size=3))
    def writes(self, ops: list[Op]) -> None:
        """Several writes with no read between them."""
        for op in ops:
            run(op, self.alias, savepoint=False)

    @rule(
        ops=st.lists(STEPS, min_size=1, max_size=3),
        undone=st.lists(STEPS, max_size=2),
        commit=st.booleans(),
    )
    def in_transaction(self, ops: list[Op], undone: list[Op], commit: bool) -> None:
        """Reads before the writes (they may fill) and after them, inside; then ``undone`` in
        a savepoint rolled back, read from inside it and after it."""
        with contextlib.suppress(Rollback), transaction.atomic(using=self.alias):
            self.oracle.check(refresh=False)
            for op in ops:
                run(op, self.alias, savepoint=True)
            if undone:
                with contextlib.suppress(Rollback), transaction.atomic(using=self.alias):
                    for op in undone:
                        run(op, self.alias, savepoint=True)
                    self.oracle.check(refresh=False)
                    raise Rollback
            self.oracle.check()
            if not commit:
                raise Rollback

    @invariant()
    def cached_answers_are_the_databases(self) -> None:
        self.oracle.check()


def run_differential(alias: str, near_cache: bool) -> None:
    machine = type("Differential", (Differential,), {"alias": alias, "near_cache": near_cache})
    stats.reset()
    run_state_machine_as_test(machine, settings=SETTINGS)
    # The cache answered: a test of the database against itself would prove nothing.
    counts = stats.snapshot()
    for label in ("diffapp.Item", "diffapp.Owner", "diffapp.Base", "diffapp.Derived"):
        assert counts.get(label, {}).get("hit", 0) > 0, (label, counts.get(label))
    if near_cache:
        assert counts.get("diffapp.Item", {}).get("near_hit", 0) > 0, counts.get("diffapp.Item")


def test_every_cached_answer_is_the_databases(backend: str) -> None:
    run_differential(backend, near_cache=False)


@pytest.mark.servers
@pytest.mark.parametrize("backend", ["postgres-redis", "mariadb-redis"], indirect=True)
def test_every_cached_answer_is_the_databases_with_the_near_cache(backend: str) -> None:
    run_differential(backend, near_cache=True)
