"""Narrow rows (10 small columns), wide rows (40 columns, 20 KB of text), a growth table.

Table names carry a prefix from the environment so that a run on a shared database that does
not let us create our own can still keep to tables nobody else uses; peer and worker processes
inherit it.
"""

import os

from django.db import models

from cachefresh import CacheFreshManager

PREFIX = os.environ.get("CACHEFRESH_BENCH_TABLE_PREFIX", "cfbench")

#: The fields a refresh of "1 field" and of "3 fields" asks for, on every model.
ONE_FIELD = ["counter"]
THREE_FIELDS = ["counter", "title", "updated"]
TEXT_COLUMNS = ("text_a", "text_b", "text_c", "text_d")
WIDE_INT_COLUMNS = 32


class Narrow(models.Model):
    counter = models.IntegerField()
    title = models.CharField(max_length=40)
    updated = models.DateTimeField()
    score = models.FloatField()
    flag = models.BooleanField()
    amount = models.BigIntegerField()
    code = models.CharField(max_length=12)
    born = models.DateField()
    rank = models.SmallIntegerField()

    objects = CacheFreshManager()

    class Meta:
        db_table = f"{PREFIX}_narrow"

    def __str__(self) -> str:
        return f"narrow {self.pk}"


def _wide_attrs() -> dict[str, object]:
    # id, counter, title, updated, four 5 KB texts (20 KB per row) and 32 small integers: 40.
    attrs: dict[str, object] = {
        "__module__": __name__,
        "counter": models.IntegerField(),
        "title": models.CharField(max_length=40),
        "updated": models.DateTimeField(),
        "objects": CacheFreshManager(),
        "Meta": type("Meta", (), {"db_table": f"{PREFIX}_wide"}),
        "__str__": lambda self: f"wide {self.pk}",
    }
    for name in TEXT_COLUMNS:
        attrs[name] = models.TextField()
    for index in range(WIDE_INT_COLUMNS):
        attrs[f"n{index:02d}"] = models.IntegerField()
    return attrs


Wide = type("Wide", (models.Model,), _wide_attrs())


class Growth(models.Model):
    counter = models.IntegerField()
    title = models.CharField(max_length=40)
    updated = models.DateTimeField()
    score = models.FloatField()

    objects = CacheFreshManager()

    class Meta:
        db_table = f"{PREFIX}_growth"

    def __str__(self) -> str:
        return f"growth {self.pk}"
