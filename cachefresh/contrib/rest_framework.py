"""``CachedGetObjectMixin``: Django REST framework's ``GenericAPIView.get_object()`` with the
lookup served from the cache.

```python
class PostViewSet(CachedGetObjectMixin, viewsets.ModelViewSet):
    queryset = Post.objects.all()
    serializer_class = PostSerializer
    lookup_field = "slug"          # the pk, or any field; unique ones come from the cache
```

Put it first among the bases of any ``GenericAPIView`` subclass (``RetrieveAPIView``,
``RetrieveUpdateDestroyAPIView``, ``ModelViewSet``…). ``get_object()`` then runs DRF's steps in
DRF's order: ``get_queryset()``, ``filter_queryset()`` through every filter backend, the
``lookup_url_kwarg`` check, the lookup, and ``check_object_permissions()``, which always runs.
Only the lookup differs: :func:`cachefresh.shortcuts.get_object_or_404` in place of Django's,
so it is a cache read when the filtered queryset is plain (no backend narrowed it,
``get_queryset()`` added no filter) and the lookup is the pk or a field unique by itself, and
Django's own ``get_object_or_404`` otherwise. Errors are DRF's: ``Http404`` with Django's
message, and a bare ``Http404`` for a value the field refuses.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404

from cachefresh.shortcuts import get_object_or_404


class CachedGetObjectMixin:
    """``get_object()`` of a ``GenericAPIView``, with its lookup from the cache."""

    # DRF's attributes and methods, found on the GenericAPIView this mixin is combined with.
    kwargs: dict[str, Any]
    request: Any
    lookup_field: str
    lookup_url_kwarg: str | None
    get_queryset: Any
    filter_queryset: Any
    check_object_permissions: Any

    def get_object(self) -> Any:
        # DRF's own get_object(), step for step (rest_framework/generics.py), except the lookup.
        queryset = self.filter_queryset(self.get_queryset())
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        # DRF's assert, spelled out: pytest rewrites the asserts of a package that has a pytest
        # plugin, as cachefresh has, which would change the message in users' test runs.
        if __debug__ and lookup_url_kwarg not in self.kwargs:
            raise AssertionError(
                f"Expected view {self.__class__.__name__} to be called with a URL keyword "
                f'argument named "{lookup_url_kwarg}". Fix your URL conf, or set the '
                "`.lookup_field` attribute on the view correctly."
            )
        filter_kwargs = {self.lookup_field: self.kwargs[lookup_url_kwarg]}
        try:
            obj = get_object_or_404(queryset, **filter_kwargs)
        except (TypeError, ValueError, ValidationError):
            raise Http404 from None  # as DRF's get_object_or_404 turns a refused value
        self.check_object_permissions(self.request, obj)
        return obj
