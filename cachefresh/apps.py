"""The app: installs the write hooks, and resets cached state when the settings change.

The reset lives here, at the top of the layers, because it reaches into several of them.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed


class CacheFreshConfig(AppConfig):
    name = "cachefresh"
    verbose_name = "cachefresh"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from cachefresh import checks, databases, invalidation, near, statements, transactions

        # Imported for what importing them does: checks @register, near offers its local tier.
        del checks, near
        # Nothing here reads the setting: a bad one is reported by the system checks
        # (E001, E002) and raised on use, never as a traceback from every management command.
        transactions.install()
        invalidation.install()
        setting_changed.connect(_reset_on_setting_changed, dispatch_uid="cachefresh-reset")
        connection_created.connect(databases.on_connection_created, dispatch_uid="cachefresh-db")
        # The net under the write hooks: every statement of every connection, raw SQL included.
        connection_created.connect(statements.on_connection_created, dispatch_uid="cachefresh-net")
        statements.install_on_open_connections()


def _reset_on_setting_changed(setting: str, **kwargs: Any) -> None:
    from cachefresh import changes

    # Any setting: reads resolve the signing key from SECRET_KEY, converters from USE_TZ...
    changes.bump()
    if setting == "USE_TZ":
        from cachefresh import columns

        # Backends choose their converters by USE_TZ (MySQL's adds the one that makes
        # datetimes aware only when it is on), and column fetches keep theirs.
        columns.column_fetch.cache_clear()
    if setting in ("CACHEFRESH", "CACHES", "DATABASES", "INSTALLED_APPS"):
        from cachefresh import conf, near, registry, signals, store

        conf.get_settings.cache_clear()
        near.reset()
        store.reset()
        registry.registry.reset()
        signals.forget_models()
