"""An app a user might write: an unmanaged model given cachefresh's manager (refused: E002)."""

from django.db import models

from cachefresh import CacheFreshManager


class Legacy(models.Model):
    name = models.CharField(max_length=50)

    objects = CacheFreshManager()

    class Meta:
        managed = False
        db_table = "legacy_rows"

    def __str__(self) -> str:
        return self.name
