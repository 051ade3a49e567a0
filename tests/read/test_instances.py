"""Hits are built exactly as ``Model.from_db()`` builds them (``cachefresh.instances``).

A plain model's hits skip ``Model.__init__``; each test compares what a hit leaves on the
instance, attribute by attribute and in order, with what Django's ``get()`` leaves. The models
whose construction runs code of their own must get ``from_db()`` itself.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import django.db.models.base
import pytest
from django.db.models import Model
from django.db.models.signals import post_init, pre_init

from cachefresh import cached_get_many, prefetch_cached
from cachefresh.instances import DEFAULT_FETCH_MODE, InstanceBuilder
from cachefresh.registry import registry
from tests.testapp.models import (
    CONSTRUCTION_LOG,
    AllTypes,
    Article,
    ArticleProxy,
    Audited,
    Author,
    BuiltByFromDb,
    CharPk,
    Described,
    Initialised,
    MixedIn,
    Post,
    Restaurant,
    UUIDPk,
    Writer,
)

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def layout(instance: Model, peers_in_any_order: bool = False) -> tuple[Any, ...]:
    """What building left on an instance: its attributes in order with values and types, and
    its ``ModelState`` the same way (peers, Django 6.1's weak references, by whom they name;
    sorted by pk with ``peers_in_any_order``)."""

    def named(peers: Any) -> list[tuple[Any, Any]]:
        found = [(type(p()), p().pk) for p in peers]
        return sorted(found, key=lambda peer: peer[1]) if peers_in_any_order else found

    return (
        type(instance),
        [(k, v, type(v)) for k, v in vars(instance).items() if k != "_state"],
        type(instance._state),
        [(k, named(v) if k == "peers" else v) for k, v in vars(instance._state).items()],
    )


def all_types() -> AllTypes:
    author = Author.objects.create(name="a")
    return AllTypes.objects.create(
        small=-3, integer=7, big=2**40, positive=1, positive_small=2, positive_big=2**50,
        char="c", text="t" * 50, slug="s-1", email="e@example.com", url="https://x.example",
        boolean=True, floating=1.5, decimal=Decimal("12.500000"), date=date(2026, 1, 2),
        datetime=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), time=time(1, 2, 3),
        duration=timedelta(seconds=90), uuid="12345678-1234-5678-1234-567812345678",
        ip="10.0.0.1", json={"a": [1, 2]}, binary=b"\x00\x01", author=author,
    )  # fmt: skip


PLAIN_ROWS: dict[str, Callable[[], Model]] = {
    "article, one foreign key set": lambda: Article.objects.create(
        title="t", author=Author.objects.create(name="a")
    ),
    "article, no foreign key set": lambda: Article.objects.create(title="t"),
    "every field type": all_types,
    "every field null": lambda: AllTypes.objects.create(),
    "proxy": lambda: ArticleProxy.objects.create(title="p"),
    "multi-table child": lambda: Restaurant.objects.create(name="r", serves_pizza=True),
    "uuid pk": lambda: UUIDPk.objects.create(value=1),
    "char pk": lambda: CharPk.objects.create(code="k1", value=2),
}


@pytest.mark.parametrize("make", PLAIN_ROWS.values(), ids=PLAIN_ROWS.keys())
def test_a_hit_is_built_as_get_builds_it(backend, make, django_assert_num_queries):
    saved = make()
    model = type(saved)
    model.objects.cached_get(pk=saved.pk)  # fill
    with django_assert_num_queries(0, using=backend):
        hit = model.objects.cached_get(pk=saved.pk)
        batch = cached_get_many(model, [saved.pk])[saved.pk]
    expected = layout(model.objects.get(pk=saved.pk))
    assert layout(hit) == expected
    assert layout(batch) == expected
    assert registry.plan(model).builder(model).skips_init(), "the shortcut was not taken"


def test_prefetched_targets_are_built_as_django_prefetch_builds_them(backend):
    writer = Writer.objects.create(email="w@example.com", number=1)
    Post.objects.create(slug="p", writer=writer)
    prefetch_cached(list(Post.objects.all()), "writer")  # fill
    ours, django_posts = list(Post.objects.all()), list(Post.objects.all())
    prefetch_cached(ours, "writer")
    django.db.models.prefetch_related_objects(django_posts, "writer")
    assert layout(ours[0].writer) == layout(django_posts[0].writer)


CONSTRUCTION_RUNS_CODE = [BuiltByFromDb, Initialised, MixedIn, Audited, Described]


def ran(call: Callable[[], Any]) -> list[tuple[str, str]]:
    """What construction code of the test models ``call`` ran."""
    CONSTRUCTION_LOG.clear()
    call()
    return list(CONSTRUCTION_LOG)


@pytest.mark.parametrize("model", CONSTRUCTION_RUNS_CODE, ids=lambda m: m.__name__)
def test_a_model_whose_construction_runs_code_gets_from_db(backend, model):
    saved = model.objects.create(name="n")
    model.objects.cached_get(pk=saved.pk)  # fill
    django_ran = ran(lambda: model.objects.get(pk=saved.pk))
    assert django_ran, "the model's own code did not run for Django either"
    assert ran(lambda: model.objects.cached_get(pk=saved.pk)) == django_ran
    assert ran(lambda: cached_get_many(model, [saved.pk])) == django_ran
    assert layout(model.objects.cached_get(pk=saved.pk)) == layout(model.objects.get(pk=saved.pk))


def test_a_patched_model_init_runs_on_hits(backend, monkeypatch):
    author = Author.objects.create(name="a")
    Author.objects.cached_get(pk=author.pk)  # fill
    calls: list[int] = []
    django_init = Model.__init__

    def init(self: Model, *args: Any, **kwargs: Any) -> None:
        calls.append(len(args))
        django_init(self, *args, **kwargs)

    monkeypatch.setattr(Model, "__init__", init)
    Author.objects.cached_get(pk=author.pk)
    cached_get_many(Author, [author.pk])
    assert calls == [3, 3]


@pytest.mark.parametrize("signal", [pre_init, post_init], ids=["pre_init", "post_init"])
def test_init_signal_receivers_see_every_hit(backend, signal):
    author = Author.objects.create(name="a")
    Author.objects.cached_get(pk=author.pk)  # fill
    heard: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        heard.append((sender, sorted(kwargs)))

    signal.connect(receiver, sender=Author)
    try:
        Author.objects.cached_get(pk=author.pk)
        cached_get_many(Author, [author.pk])
        from_cache, heard[:] = list(heard), []
        Author.objects.get(pk=author.pk)
        Author.objects.in_bulk([author.pk])
    finally:
        signal.disconnect(receiver, sender=Author)
    assert from_cache == heard
    assert len(heard) == 2


def test_a_receiver_for_another_model_keeps_the_shortcut(backend):
    def receiver(**kwargs: Any) -> None:
        pass

    post_init.connect(receiver, sender=Writer)
    try:
        assert registry.plan(Author).builder(Author).skips_init()
        assert not registry.plan(Writer).builder(Writer).skips_init()
    finally:
        post_init.disconnect(receiver, sender=Writer)


def test_a_patched_from_db_is_called_on_hits(backend, monkeypatch):
    author = Author.objects.create(name="a")
    Author.objects.cached_get(pk=author.pk)  # fill
    calls: list[str] = []
    django_from_db = Model.from_db.__func__  # type: ignore[attr-defined]

    def from_db(cls: Any, db: str, field_names: Any, values: Any) -> Any:
        calls.append(db)
        return django_from_db(cls, db, field_names, values)

    monkeypatch.setattr(Author, "from_db", classmethod(from_db))
    Author.objects.cached_get(pk=author.pk)
    cached_get_many(Author, [author.pk])
    assert calls == [backend, backend]


def test_a_django_that_builds_differently_gets_from_db(monkeypatch):
    """The probe: Django's own construction is compared once before the shortcut is used."""

    class LaterModelState(django.db.models.base.ModelState):
        def __init__(self) -> None:
            self.version = 2

    monkeypatch.setattr(django.db.models.base, "ModelState", LaterModelState)
    builder = InstanceBuilder(Author, Author._meta.concrete_fields)
    assert not builder.skips_init()
    built = builder.build("default", [1, "a", 3])
    assert type(built._state) is LaterModelState
    assert built._state.version == 2


needs_fetch_modes = pytest.mark.skipif(
    DEFAULT_FETCH_MODE is None, reason="fetch modes came with Django 6.1"
)
FETCH_MODES = ["FETCH_ONE", "FETCH_PEERS", "FETCH_RAISE"]


def articles_with_authors(count: int) -> list[int]:
    return [
        Article.objects.create(title=f"t{i}", author=Author.objects.create(name=f"a{i}")).pk
        for i in range(count)
    ]


@needs_fetch_modes
@pytest.mark.parametrize("mode_name", FETCH_MODES)
def test_hits_and_fills_keep_the_querysets_fetch_mode(backend, mode_name):
    queryset = Article.objects.fetch_mode(getattr(django.db.models, mode_name))
    pks = articles_with_authors(3)
    filled = queryset.cached_get(pk=pks[0])  # a miss, filled
    filled_batch = queryset.cached_get_many(pks)  # one hit, two filled
    hit, batch = queryset.cached_get(pk=pks[0]), queryset.cached_get_many(pks)
    django_one, django_batch = queryset.get(pk=pks[0]), queryset.in_bulk(pks)
    assert layout(filled) == layout(hit) == layout(django_one)
    for ours in (filled_batch, batch):
        assert [layout(ours[pk]) for pk in pks] == [layout(django_batch[pk]) for pk in pks]


@needs_fetch_modes
def test_fetch_peers_loads_a_batchs_relations_in_one_query(backend, django_assert_num_queries):
    pks = articles_with_authors(3)
    queryset = Article.objects.fetch_mode(django.db.models.FETCH_PEERS)
    queryset.cached_get_many(pks)  # fill
    batch = queryset.cached_get_many(pks)
    with django_assert_num_queries(1, using=backend):
        names = [batch[pk].author.name for pk in pks]
    assert names == ["a0", "a1", "a2"]


@needs_fetch_modes
def test_fetch_raise_blocks_a_hits_lazy_relation(backend):
    from django.core.exceptions import FieldFetchBlocked

    (pk,) = articles_with_authors(1)
    queryset = Article.objects.fetch_mode(django.db.models.FETCH_RAISE)
    queryset.cached_get(pk=pk)  # fill
    with pytest.raises(FieldFetchBlocked, match=r"^Fetching of Article\.author blocked\.$"):
        queryset.cached_get(pk=pk).author  # noqa: B018


@needs_fetch_modes
@pytest.mark.parametrize("mode_name", FETCH_MODES)
def test_prefetched_targets_take_their_sources_fetch_mode(backend, mode_name):
    mode = getattr(django.db.models, mode_name)
    for i in range(3):
        Post.objects.create(slug=f"p{i}", writer=Writer.objects.create(email=f"{i}@x.example"))
    prefetch_cached(list(Post.objects.all()), "writer")  # fill
    ours, django_posts = list(Post.objects.fetch_mode(mode)), list(Post.objects.fetch_mode(mode))
    prefetch_cached(ours, "writer")
    django.db.models.prefetch_related_objects(django_posts, "writer")
    # Django's peers come in the order the database returns the targets, which no query here
    # orders; ours in the order the posts first name them.
    assert [layout(p.writer, peers_in_any_order=True) for p in ours] == [
        layout(p.writer, peers_in_any_order=True) for p in django_posts
    ]
    peers = [p().pk for p in getattr(ours[0].writer._state, "peers", ())]
    assert peers == ([p.writer_id for p in ours] if mode_name == "FETCH_PEERS" else [])


def test_a_row_of_the_wrong_length_raises():
    """A row that does not fit the model is a bug of ours: it must not build an instance."""
    builder = InstanceBuilder(Author, Author._meta.concrete_fields)
    assert builder.skips_init()
    with pytest.raises(ValueError, match=r"^2 values for the 3 fields of a row$"):
        builder.build("default", [1, "a"])
