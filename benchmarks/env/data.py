"""The benchmark tables: created on each database of the run and filled from a seeded generator."""

from __future__ import annotations

import datetime
import random
import string

from django.db import connections

from benchmarks.benchapp.models import TEXT_COLUMNS, WIDE_INT_COLUMNS, Growth, Narrow, Wide

MODELS = (Narrow, Wide, Growth)
TEXT_SIZE = 5_000
_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def tables() -> list[str]:
    return [model._meta.db_table for model in MODELS]


def create_tables(alias: str) -> None:
    connection = connections[alias]
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in MODELS:
            if model._meta.db_table in existing:
                editor.delete_model(model)
            editor.create_model(model)


def _text(rng: random.Random, size: int) -> str:
    return "".join(rng.choices(string.ascii_letters + " ", k=size))


def fill(alias: str, narrow: int, wide: int, seed: int) -> None:
    rng = random.Random(f"{seed}:data")
    letters = string.ascii_letters
    Narrow.objects.using(alias).bulk_create(
        (
            Narrow(
                counter=rng.randrange(1_000_000),
                title="".join(rng.choices(letters, k=rng.randint(20, 40))),
                updated=_EPOCH + datetime.timedelta(seconds=rng.randrange(10**7)),
                score=rng.random() * 1000,
                flag=rng.random() < 0.5,
                amount=rng.randrange(1 << 40),
                code="".join(rng.choices(letters, k=12)),
                born=_EPOCH.date() - datetime.timedelta(days=rng.randrange(30_000)),
                rank=rng.randrange(1000),
            )
            for _ in range(narrow)
        ),
        batch_size=500,
    )
    # One pool of text sliced at random offsets: 20 KB per row without generating 20 KB each.
    pool = _text(rng, TEXT_SIZE * 8)
    rows = []
    for _ in range(wide):
        row = Wide(
            counter=rng.randrange(1_000_000),
            title="".join(rng.choices(letters, k=30)),
            updated=_EPOCH + datetime.timedelta(seconds=rng.randrange(10**7)),
        )
        for name in TEXT_COLUMNS:
            start = rng.randrange(len(pool) - TEXT_SIZE)
            setattr(row, name, pool[start : start + TEXT_SIZE])
        for index in range(WIDE_INT_COLUMNS):
            setattr(row, f"n{index:02d}", rng.randrange(1 << 30))
        rows.append(row)
    Wide.objects.using(alias).bulk_create(rows, batch_size=50)


def grow(alias: str, size: int) -> None:
    """Grow the growth table to ``size`` rows, in SQL: a million ORM objects would take minutes."""
    table = Growth._meta.db_table
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')
        have = cursor.fetchone()[0]
        if have >= size:
            return
        columns = f'"{table}" (id, counter, title, updated, score)'
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {columns} SELECT g, g %% 1000, 'row ' || g, "
                "TIMESTAMPTZ '2026-01-01 00:00:00+00', g * 0.5 FROM generate_series(%s, %s) g",
                [have + 1, size],
            )
            cursor.execute(f'ANALYZE "{table}"')
        else:
            cursor.execute(
                "WITH RECURSIVE s(g) AS (SELECT %s UNION ALL SELECT g + 1 FROM s WHERE g < %s) "
                f"INSERT INTO {columns} SELECT g, g %% 1000, 'row ' || g, "
                "'2026-01-01 00:00:00', g * 0.5 FROM s",
                [have + 1, size],
            )
