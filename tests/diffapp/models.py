# ruff: noqa: DJ008  -- test models: no __str__ needed.
"""The differential test's models (tests/write/test_differential.py): a little of every shape a
cached row can have, each cached by its default manager.

- ``Item``: a unique field, a unique ``GeneratedField``, ``db_default``, JSON, Decimal, an
  ``auto_now`` datetime, and two nullable foreign keys to ``Owner`` (``CASCADE`` and
  ``SET_NULL``); ``ItemProxy`` is its proxy.
- ``Base``/``Derived``: multi-table inheritance, with a generated column on the child.
- On Django 6.1, a family of its own whose deletes the database carries out (``DB_CASCADE``,
  ``DB_SET_NULL``, ``DB_SET_DEFAULT``): Django refuses to mix those with Python-level
  ``on_delete`` along one chain of references.
"""

from decimal import Decimal

from django.db import models
from django.db.models import F
from django.db.models.functions import Upper

from cachefresh import CacheFreshManager


class Owner(models.Model):
    name = models.CharField(max_length=8)
    score = models.IntegerField(default=0)

    objects = CacheFreshManager()


class Item(models.Model):
    slug = models.CharField(max_length=8, unique=True)
    code = models.CharField(max_length=8)
    code_upper = models.GeneratedField(
        expression=Upper("code"),
        output_field=models.CharField(max_length=8),
        db_persist=True,
        unique=True,
    )
    count = models.IntegerField(default=0)
    rank = models.IntegerField(db_default=5)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0.00"))
    data = models.JSONField(default=dict)
    touched = models.DateTimeField(auto_now=True)
    owner = models.ForeignKey(Owner, null=True, on_delete=models.CASCADE, related_name="items")
    helper = models.ForeignKey(Owner, null=True, on_delete=models.SET_NULL, related_name="helped")

    objects = CacheFreshManager()


class ItemProxy(Item):
    class Meta:
        proxy = True


class Base(models.Model):
    label = models.CharField(max_length=8)
    weight = models.IntegerField(default=0)
    owner = models.ForeignKey(Owner, null=True, on_delete=models.SET_NULL, related_name="bases")

    objects = CacheFreshManager()


class Derived(Base):
    extra = models.IntegerField(default=0)
    doubled = models.GeneratedField(
        expression=F("extra") * 2, output_field=models.IntegerField(), db_persist=True
    )


if hasattr(models, "DB_CASCADE"):  # Django 6.1

    class Box(models.Model):
        name = models.CharField(max_length=8)

        objects = CacheFreshManager()

    class Part(models.Model):
        box = models.ForeignKey(Box, on_delete=models.DB_CASCADE)
        size = models.IntegerField(default=0)

        objects = CacheFreshManager()

    class Piece(models.Model):
        """Two ``DB_CASCADE`` steps from a ``Box``."""

        part = models.ForeignKey(Part, on_delete=models.DB_CASCADE)
        size = models.IntegerField(default=0)

        objects = CacheFreshManager()

    class Tag(models.Model):
        box = models.ForeignKey(Box, null=True, on_delete=models.DB_SET_NULL)

        objects = CacheFreshManager()

    class Chip(models.Model):
        part = models.ForeignKey(Part, null=True, db_default=None, on_delete=models.DB_SET_DEFAULT)

        objects = CacheFreshManager()

        class Meta:
            # MySQL and MariaDB have no ON DELETE SET DEFAULT; Django creates no table there.
            required_db_features = ("supports_on_delete_db_default",)
