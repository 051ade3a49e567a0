"""``CacheFreshModel``: an abstract base giving ``objects = CacheFreshManager()`` and
``instance.smart_refresh()``."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models

from cachefresh.arefresh import asmart_refresh
from cachefresh.conf import Strategy
from cachefresh.manager import CacheFreshManager
from cachefresh.refresh import smart_refresh


class CacheFreshModel(models.Model):
    objects = CacheFreshManager()

    class Meta:
        abstract = True

    def smart_refresh(
        self,
        fields: Iterable[str] | None = None,
        *,
        strategy: str | None = None,
        using: str | None = None,
    ) -> Strategy:
        return smart_refresh(self, fields, strategy=strategy, using=using)

    async def asmart_refresh(
        self,
        fields: Iterable[str] | None = None,
        *,
        strategy: str | None = None,
        using: str | None = None,
    ) -> Strategy:
        return await asmart_refresh(self, fields, strategy=strategy, using=using)
