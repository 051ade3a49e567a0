"""What a call returned or raised, field by field: the form every differential comparison uses."""

from typing import Any

from django.db.models import Model


def row(instance: Model) -> list[tuple[str, Any, type]]:
    """Every concrete field's value and type: what "equal field by field" compares."""
    return [
        (f.attname, getattr(instance, f.attname), type(getattr(instance, f.attname)))
        for f in instance._meta.concrete_fields
    ]


def outcome(call: Any) -> tuple[str, Any]:
    """What a call returned or raised, in a comparable form."""
    try:
        result = call()
    except Exception as exc:
        return ("raised", (type(exc), str(exc)))
    if isinstance(result, Model):
        return ("returned", (type(result), row(result)))
    return ("returned", result)
