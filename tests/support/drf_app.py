"""Django REST framework views for tests/users/test_rest_framework.py: each plain DRF view beside
the same view with cachefresh's mixin, under /plain/… and /cached/…."""

from typing import Any

from django.urls import include, path
from rest_framework import filters, generics, permissions, routers, serializers, viewsets
from rest_framework.renderers import JSONRenderer

from cachefresh.contrib.rest_framework import CachedGetObjectMixin
from tests.testapp.models import NotCached, Post


class PostSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Post
        fields = ("id", "slug", "title", "code", "writer")


class NotCachedSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = NotCached
        fields = ("id", "name")


class NotSecret(permissions.BasePermission):
    """An object permission: posts titled "secret" are refused."""

    message = "Secret posts are refused."

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return bool(obj.title != "secret")


class TitleFilter(filters.BaseFilterBackend):
    """Narrows the queryset when ``?title=`` is given, and leaves it alone otherwise."""

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        title = request.query_params.get("title")
        return queryset if title is None else queryset.filter(title=title)


class Base:
    # No django.contrib.auth in the test project: no authentication, JSON only.
    authentication_classes: tuple[Any, ...] = ()
    renderer_classes = (JSONRenderer,)
    permission_classes: tuple[Any, ...] = (NotSecret,)
    filter_backends = (TitleFilter, filters.OrderingFilter)
    serializer_class = PostSerializer


class PostViewSet(Base, viewsets.ModelViewSet):  # type: ignore[type-arg]
    queryset = Post.objects.all()


class PostBySlug(Base, generics.RetrieveAPIView):  # type: ignore[type-arg]
    queryset = Post.objects.all()
    lookup_field = "slug"
    lookup_url_kwarg = "name"


class PostByTitle(Base, generics.RetrieveAPIView):  # type: ignore[type-arg]
    """Not unique: Django's get_object_or_404 answers, MultipleObjectsReturned included."""

    queryset = Post.objects.all()
    lookup_field = "title"


class OwnPosts(Base, generics.RetrieveAPIView):  # type: ignore[type-arg]
    """A queryset of the caller's own rows (``?owner=``): never answered from the cache."""

    def get_queryset(self) -> Any:
        return Post.objects.filter(code=self.request.query_params["owner"])


class WrongKwarg(Base, generics.RetrieveAPIView):  # type: ignore[type-arg]
    queryset = Post.objects.all()
    lookup_field = "slug"


class NotCachedDetail(Base, generics.RetrieveAPIView):  # type: ignore[type-arg]
    queryset = NotCached.objects.all()
    serializer_class = NotCachedSerializer
    permission_classes = ()


def cached(view: type) -> type:
    """The same view with the mixin first, under the same name (DRF's messages name it)."""
    return type(view.__name__, (CachedGetObjectMixin, view), {})


def routes(make: Any) -> list[Any]:
    router = routers.SimpleRouter()
    router.register("posts", make(PostViewSet), basename="post")
    return [
        path("", include(router.urls)),
        path("by-slug/<str:name>/", make(PostBySlug).as_view()),
        path("by-title/<str:title>/", make(PostByTitle).as_view()),
        path("own/<str:pk>/", make(OwnPosts).as_view()),
        path("wrong/<str:name>/", make(WrongKwarg).as_view()),
        path("not-cached/<str:pk>/", make(NotCachedDetail).as_view()),
    ]


urlpatterns = [
    path("plain/", include(routes(lambda view: view))),
    path("cached/", include(routes(cached))),
]
