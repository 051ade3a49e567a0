# ruff: noqa: DJ008  -- test models: no __str__ needed.
"""Shapes the write side must see through: values the database computes, rows the database
deletes or changes by itself (Django 6.1's DB_* on_delete), and a field Django hands out as a
memoryview (as psycopg2 does for every BinaryField)."""

from typing import Any

from django.db import models
from django.db.models.functions import Upper

from cachefresh import CacheFreshManager


class Coded(models.Model):
    """A unique column whose value only the database computes: no write carries it."""

    code = models.CharField(max_length=20)
    code_upper = models.GeneratedField(
        expression=Upper("code"),
        output_field=models.CharField(max_length=20),
        db_persist=True,
        unique=True,
    )
    hits = models.IntegerField(default=0)

    objects = CacheFreshManager()


class Kitchen(models.Model):
    """Nothing refers to it and no signal listens: Django deletes it by its filter alone (the
    fast delete), with no list of pks."""

    author = models.ForeignKey("testapp.Author", null=True, on_delete=models.CASCADE)
    name = models.CharField(max_length=20)

    objects = CacheFreshManager()


class ViewField(models.BinaryField):  # type: ignore[type-arg]
    """Hands values out as memoryview, as Django does with psycopg2."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else memoryview(bytes(value))


class Blob(models.Model):
    data = ViewField(null=True)

    objects = CacheFreshManager()


if hasattr(models, "DB_CASCADE"):  # Django 6.1

    class Crate(models.Model):
        """Not cached: its deletes reach cached rows only through the database."""

        name = models.CharField(max_length=20)

    class Bottle(models.Model):
        crate = models.ForeignKey(Crate, on_delete=models.DB_CASCADE)
        name = models.CharField(max_length=20)

        objects = CacheFreshManager()

    class Cork(models.Model):
        """Two DB_CASCADE steps from a Crate."""

        bottle = models.ForeignKey(Bottle, on_delete=models.DB_CASCADE)

        objects = CacheFreshManager()

    class Tag(models.Model):
        crate = models.ForeignKey(Crate, null=True, on_delete=models.DB_SET_NULL)

        objects = CacheFreshManager()

    class Sticker(models.Model):
        bottle = models.ForeignKey(
            Bottle, null=True, db_default=None, on_delete=models.DB_SET_DEFAULT
        )

        objects = CacheFreshManager()

        class Meta:
            # MySQL and MariaDB have no ON DELETE SET DEFAULT; Django creates no table there.
            required_db_features = ("supports_on_delete_db_default",)
