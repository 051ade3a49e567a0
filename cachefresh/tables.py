"""Which tables one write reaches: the rows a model shares with its inheritance family, and the
rows the database changes by itself when a parent row is deleted.

Django 6.1's ``on_delete=DB_CASCADE``, ``DB_SET_NULL`` and ``DB_SET_DEFAULT`` put the action in
the foreign key's ``ON DELETE`` clause: deleting a parent row deletes or changes child rows with
no statement naming the child table and no signal. Only the models' ``_meta`` tells which.
"""

from __future__ import annotations

from django.db import models as django_models

from cachefresh.support import ModelType, concrete_model

#: The ``on_delete`` values the database carries out (none before Django 6.1).
_DATABASE_ACTIONS = tuple(
    getattr(django_models, name)
    for name in ("DB_CASCADE", "DB_SET_NULL", "DB_SET_DEFAULT")
    if hasattr(django_models, name)
)
#: The one that deletes the child rows, whose own children it then reaches in turn.
_DATABASE_CASCADE = getattr(django_models, "DB_CASCADE", None)


def family_tables(model: ModelType, models: list[ModelType]) -> tuple[str, ...]:
    """The tables of every concrete model (of ``models``, the app registry's) sharing rows with
    ``model`` by multi-table inheritance."""
    root = model
    while root._meta.parents:
        root = concrete_model(next(iter(root._meta.parents)))
    return tuple(
        sorted(
            m._meta.db_table
            for m in models
            if not m._meta.proxy and (m is root or root in m._meta.get_parent_list())
        )
    )


def deleted_along(models: list[ModelType]) -> dict[str, frozenset[str]]:
    """For each table whose deletes the database carries on to other tables by itself: every
    table whose rows such a delete may delete or change, through chains of ``DB_CASCADE``."""
    children: dict[str, set[tuple[str, bool]]] = {}
    for model in models:
        if model._meta.proxy:
            continue
        for field in model._meta.local_concrete_fields:
            remote = field.remote_field
            action = getattr(remote, "on_delete", None)
            if remote is None or not any(action is kind for kind in _DATABASE_ACTIONS):
                continue
            parent = remote.model._meta.db_table
            edge = (model._meta.db_table, action is _DATABASE_CASCADE)
            children.setdefault(parent, set()).add(edge)
    reached: dict[str, frozenset[str]] = {}
    for parent in children:
        seen: set[str] = set()
        pending = [parent]
        while pending:
            for child, cascades in children.get(pending.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    if cascades:  # its rows are deleted too, so their children are reached
                        pending.append(child)
        reached[parent] = frozenset(seen)
    return reached
