"""``CachedObjectMixin``: Django's ``SingleObjectMixin.get_object()`` served from the cache.

```python
class PostDetail(CachedObjectMixin, DetailView):
    model = Post            # or queryset = Post.objects.all()
    # pk_url_kwarg, slug_url_kwarg, slug_field, query_pk_and_slug: as Django has them
```

Placed before ``DetailView``, ``UpdateView``, ``DeleteView`` or any ``SingleObjectMixin``, it
answers ``get_object()`` as Django would, from the cache when the lookup allows it: by pk, or
by a slug field unique by itself (:func:`cachefresh.front.serve_get` decides), on a plain
queryset of a cached model. Everything else is Django's own ``get_object()``: a ``get_queryset()``
that filters (a user's own rows, published ones…), ``select_related()``, a model that is not
cached, pk and slug together under ``query_pk_and_slug``, neither kwarg (Django's
``AttributeError``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from cachefresh.front import is_plain, serve_get
from cachefresh.registry import registry

if TYPE_CHECKING:
    from django.views.generic.detail import SingleObjectMixin

    _Base = SingleObjectMixin[Any]
else:
    _Base = object


class CachedObjectMixin(_Base):
    """``get_object()`` from the cache for a pk or a unique slug field, else Django's."""

    #: The URL's keyword arguments, set by ``View.setup()`` (declared for the type checker).
    kwargs: dict[str, Any]

    def get_object(self, queryset: QuerySet[Any] | None = None) -> Any:
        if queryset is None:
            queryset = self.get_queryset()
        lookup = self._cached_lookup()
        if (
            lookup is None
            or not isinstance(queryset, QuerySet)
            or registry.plan_or_none(queryset.model) is None
            or not is_plain(queryset)
        ):
            return super().get_object(queryset)
        try:
            return serve_get(queryset, (), lookup)
        except queryset.model.DoesNotExist as exc:
            # Django's message, through the same translation catalogue.
            raise Http404(
                _("No %(verbose_name)s found matching the query")
                % {"verbose_name": queryset.model._meta.verbose_name}
            ) from exc

    def _cached_lookup(self) -> dict[str, Any] | None:
        """The one lookup Django's ``get_object()`` would filter by, or ``None`` when it would
        filter by two (pk and slug) or raise for want of either."""
        pk = self.kwargs.get(self.pk_url_kwarg)
        slug = self.kwargs.get(self.slug_url_kwarg)
        if pk is not None and (slug is None or not self.query_pk_and_slug):
            return {"pk": pk}
        if pk is None and slug is not None:
            return {self.get_slug_field(): slug}
        return None
