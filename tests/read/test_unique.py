"""Lookups by a unique field: ``cached_get(slug=…)`` is ``get(slug=…)``, served from the cache.

Every test compares with Django's own ``get()`` for the same lookup, warms first and proves
the hit runs no query, then writes and checks the answer is the database's.
"""

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext

from cachefresh import acached_get, cached_get, invalidate, invalidate_model, routes, unique
from cachefresh.indexes import IndexLookup, indexed_field
from cachefresh.registry import registry
from cachefresh.store import get_store
from tests.support.outcomes import outcome, row
from tests.support.redis_keys import forget_keys_of_this_test
from tests.support.slugs import by_slug, db, queries, warm
from tests.support.unseen import unseen_cursor
from tests.testapp.models import Article, Author, Post, Writer

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture(autouse=True)
def _forget_keys(backend):
    yield
    forget_keys_of_this_test()


def test_a_warm_slug_lookup_runs_no_query_and_equals_get(backend):
    post = Post.objects.create(slug="hello", title="Hi")
    # Cold: the index fill's get(), and the row's fill by pk under its own token; then warm.
    assert queries(backend, lambda: Post.objects.cached_get(slug="hello")) == 2
    assert queries(backend, lambda: Post.objects.cached_get(slug="hello")) == 0
    assert queries(backend, lambda: Post.objects.cached_get(slug="hello")) == 0
    hit = Post.objects.cached_get(slug="hello")
    assert row(hit) == row(Post.objects.get(slug="hello"))
    assert hit == post and hit._state.db == backend and hit._state.adding is False


def test_the_first_lookup_warms_the_row_but_never_with_a_row_a_write_overtook(backend):
    """The first lookup by slug fills the row's entry too, so the second runs no query. A
    write that commits right after the lookup's read by slug (before any token of the row
    could be taken, its pk unknown until then) must not leave that read's row in the cache."""
    post = Post.objects.create(slug="race", title="old")
    written: list[str] = []

    def write_after_the_read_by_slug(execute: Any, sql: str, params: Any, *rest: Any) -> Any:
        result = execute(sql, params, *rest)
        if not written and sql.lstrip().upper().startswith("SELECT") and "race" in params:
            written.append(sql)  # before the update: it runs through this wrapper too
            Post.objects.filter(pk=post.pk).update(title="new")  # autocommit: retired now
        return result

    with connections[backend].execute_wrapper(write_after_the_read_by_slug):
        Post.objects.cached_get(slug="race")
    assert written
    assert queries(backend, lambda: Post.objects.cached_get(slug="race")) == 0
    assert Post.objects.cached_get(slug="race").title == "new"
    assert cached_get(Post, post.pk).title == "new"


def test_a_warm_slug_lookup_is_one_round_trip(backend, monkeypatch):
    """The pk found last time is read straight away: the row entry alone, no index entry."""
    post = Post.objects.create(slug="once", title="t")
    warm(backend, "once")
    store = get_store()
    reads: list[list[str]] = []
    real = store.get_many

    def counted(wanted: list[str], *args: Any, **kwargs: Any) -> Any:
        reads.append(wanted)
        return real(wanted, *args, **kwargs)

    monkeypatch.setattr(store, "get_many", counted)
    assert Post.objects.cached_get(slug="once").pk == post.pk
    # With the near cache on (CACHEFRESH_TEST_NEAR=1) the row is held in the process: none.
    assert len(reads) == (1 if routes.route(Post, backend).local is None else 0)


def test_a_wrong_guess_never_serves_its_row(backend):
    """A guess names a row whose valid entry holds another value: the index answers instead."""
    a = Post.objects.create(slug="a")
    b = Post.objects.create(slug="b")
    warm(backend, "a", "b")
    plan = registry.plan(Post)
    guess_key = (indexed_field(plan, "slug").column_tag(plan, backend), "a")
    assert unique._guesses[guess_key] == a.pk
    unique._guesses[guess_key] = b.pk
    assert queries(backend, lambda: Post.objects.cached_get(slug="a")) == 0
    assert Post.objects.cached_get(slug="a").pk == a.pk
    assert unique._guesses[guess_key] == a.pk


def test_every_spelling_and_every_kind_of_unique_field_is_served(backend):
    writer = Writer.objects.create(email="w@example.com", number=7)
    Post.objects.create(slug="s", writer=writer)
    spellings = [
        (Post, {"slug": "s"}),
        (Post, {"slug__exact": "s"}),
        (Writer, {"email": "w@example.com"}),  # a single-field UniqueConstraint
        (Writer, {"number": 7}),
        (Writer, {"number": "7"}),  # prepared as the database compares it
    ]
    for model, lookup in spellings:
        expected = outcome(lambda model=model, lookup=lookup: model.objects.get(**lookup))
        for call in (
            lambda model=model, lookup=lookup: model.objects.cached_get(**lookup),
            lambda model=model, lookup=lookup: cached_get(model, **lookup),
            lambda model=model, lookup=lookup: async_to_sync(acached_get)(model, **lookup),
        ):
            assert outcome(call) == expected, lookup
        with CaptureQueriesContext(connections[backend]) as captured:
            assert outcome(lambda model=model, lookup=lookup: cached_get(model, **lookup)) == (
                expected
            )
        assert len(captured) == 0, lookup
    # The positional pk still works, alone or beside other lookups (then it is get()).
    assert cached_get(Writer, writer.pk) == writer
    assert outcome(lambda: cached_get(Writer, writer.pk, email="x")) == outcome(
        lambda: Writer.objects.get(pk=writer.pk, email="x")
    )


def test_lookups_the_index_cannot_answer_are_get_every_time(backend):
    Post.objects.create(slug="Up", nickname=None, code="c1", title="t")
    Post.objects.create(slug="other", nickname=None, code="", title="t")
    refused = [
        {"slug__iexact": "up"},
        {"slug": "Up", "title": "t"},  # two fields
        {"nickname": None},  # nullable unique given None: an IS NULL query
        {"code": "c1"},  # unique only under a condition
        {"title": "t"},  # not unique: MultipleObjectsReturned
        {"slug": F("title")},  # an expression
        {"slug__in": ["Up"]},
        {"writer__email": "x"},
    ]
    for lookup in refused:
        expected = outcome(lambda lookup=lookup: Post.objects.get(**lookup))
        for _ in range(2):  # the second time too: nothing was cached for it
            assert outcome(lambda lookup=lookup: Post.objects.cached_get(**lookup)) == expected
            assert queries(backend, lambda lookup=lookup: Post.objects.cached_get(**lookup)) == 1
    # Case matters to `=` on both databases, and so to the index.
    warm(backend, "Up")
    assert by_slug("up") == db("up") and db("up")[0] == "raised"


def test_bad_values_get_djangos_error(backend):
    Writer.objects.create(email="a@b.c", number=1)
    for lookup in ({"number": "x"}, {"number": 10**30}, {"number": [1]}, {"email": "a\x00"}):
        assert outcome(lambda lookup=lookup: Writer.objects.cached_get(**lookup)) == outcome(
            lambda lookup=lookup: Writer.objects.get(**lookup)
        ), lookup


def test_does_not_exist_is_cached_until_a_write_gives_the_value(backend):
    with pytest.raises(Post.DoesNotExist) as cached:
        Post.objects.cached_get(slug="later")
    assert str(cached.value) == db("later")[1][1]
    assert queries(backend, lambda: Post.objects.cached_get(slug="later")) == 0
    created = Post.objects.create(slug="later")
    assert Post.objects.cached_get(slug="later") == created


@pytest.mark.parametrize(
    "write",
    [
        "save",
        "update",
        "update_expression",
        "bulk_update",
        "bulk_create",
        "upsert",
        "raw",
        "invalidate",
        "invalidate_model",
    ],
)
def test_every_write_that_gives_a_value_retires_its_cached_absence(backend, write):
    post = Post.objects.create(slug="old", code="")
    warm(backend, "old", "new", "oldX")
    assert by_slug("new") == db("new") and db("new")[0] == "raised"
    if write == "save":
        post.slug = "new"
        post.save()
    elif write == "update":
        Post.objects.filter(title="").update(slug="new")
    elif write == "update_expression":
        Post.objects.filter(pk=post.pk).update(slug=Concat(F("slug"), Value("X")))
    elif write == "bulk_update":
        post.slug = "new"
        Post.objects.bulk_update([post], ["slug"])
    elif write == "bulk_create":
        Post.objects.bulk_create([Post(slug="new")])
    elif write == "upsert":
        # MySQL's ON DUPLICATE KEY UPDATE names no conflict target: Django refuses one there.
        target = connections[backend].features.supports_update_conflicts_with_target
        Post.objects.bulk_create(
            [Post(slug="old", title="again"), Post(slug="new")],
            update_conflicts=True,
            update_fields=["title"],
            **({"unique_fields": ["slug"]} if target else {}),
        )
    elif write == "raw":  # through Django's connection: the statement net sees it
        with connections[backend].cursor() as cursor:
            cursor.execute(
                f"UPDATE {Post._meta.db_table} SET slug = 'new' WHERE id = %s", [post.pk]
            )
    else:
        with unseen_cursor(backend) as cursor:
            table = Post._meta.db_table
            cursor.execute(f"UPDATE {table} SET slug = 'new' WHERE id = %s", [post.pk])
        if write == "invalidate":
            invalidate(Post, post.pk)
        else:
            invalidate_model(Post)
    for slug in ("old", "new", "oldX"):
        assert by_slug(slug) == db(slug), (write, slug)
        assert by_slug(slug) == db(slug), (write, slug)  # and what was stored since


def test_a_value_left_behind_never_serves_the_row_that_left_it(backend):
    """Renames, swaps, deletes and reuse: the index entry still names the old row, and the row
    check refuses it. Broken on purpose (no check), the rename and delete cases went red."""
    a = Post.objects.create(slug="a")
    b = Post.objects.create(slug="b")
    warm(backend, "a", "b", "c")
    with transaction.atomic(using=backend):  # a swap through a temporary value
        Post.objects.filter(pk=a.pk).update(slug="tmp")
        Post.objects.filter(pk=b.pk).update(slug="a")
        Post.objects.filter(pk=a.pk).update(slug="b")
    for slug in ("a", "b", "tmp"):
        assert by_slug(slug) == db(slug), slug
    assert Post.objects.cached_get(slug="a").pk == b.pk
    warm(backend, "a", "b")
    # A rename to a value nobody had: "b" is now nobody's, and no write gave "b" to anyone.
    Post.objects.filter(pk=a.pk).update(slug="c")
    assert by_slug("b") == db("b") and db("b")[0] == "raised"
    assert Post.objects.cached_get(slug="c").pk == a.pk
    warm(backend, "a", "c")
    # A row deleted, its value reused by a new row.
    b.delete()
    assert by_slug("a") == db("a") and db("a")[0] == "raised"
    warm(backend, "a")
    reused = Post.objects.create(slug="a")
    assert Post.objects.cached_get(slug="a").pk == reused.pk
    # A row deleted, its value left unused: the entry names a row that is gone.
    warm(backend, "c")
    Post.objects.filter(pk=a.pk).delete()
    assert by_slug("c") == db("c") and db("c")[0] == "raised"


def test_a_transaction_reads_its_own_writes_and_a_rollback_leaves_no_trace(backend):
    warm(backend, "t")
    with transaction.atomic(using=backend):
        created = Post.objects.create(slug="t")
        assert Post.objects.cached_get(slug="t") == created  # from the database
        transaction.set_rollback(True, using=backend)
    assert by_slug("t") == db("t") and db("t")[0] == "raised"
    with transaction.atomic(using=backend):
        Post.objects.create(slug="t")
    assert by_slug("t") == db("t") and db("t")[0] == "returned"


def test_a_bad_index_entry_is_a_miss(backend):
    post = Post.objects.create(slug="g")
    warm(backend, "g")
    plan = registry.plan(Post)
    slug = indexed_field(plan, "slug")
    assert slug is not None
    lookup = IndexLookup(plan, slug, slug.column_tag(plan, backend), "g")
    other = IndexLookup(plan, slug, slug.column_tag(plan, backend), "h")
    store = get_store()
    assert lookup.read(store)
    entry, token, _ = lookup.found
    # Another value's keys, with this value's entry and token: valid header, wrong value.
    store.fill({other.keys[0]: entry, other.keys[1]: token}, ())
    assert by_slug("h") == db("h") and db("h")[0] == "raised"
    for garbage in (b"junk", b"CF" + b"\x01" * 40, entry[:-1] + b"\xc1"):
        store.fill({lookup.keys[0]: garbage}, ())
        assert Post.objects.cached_get(slug="g") == post


def test_a_unique_violation_leaves_the_index_right(backend):
    Post.objects.create(slug="x")
    warm(backend, "x", "y")
    with pytest.raises(IntegrityError), transaction.atomic(using=backend):
        Post.objects.create(slug="x")
    assert by_slug("x") == db("x")
    assert by_slug("y") == db("y")


def test_unique_lookups_on_other_models_share_nothing(backend):
    """An Article (no unique field but its pk) is never looked up through an index."""
    article = Article.objects.create(title="t")
    assert indexed_field(registry.plan(Article), "title") is None
    assert Article.objects.cached_get(title="t") == article


def test_a_row_inserted_and_read_in_a_rolled_back_transaction_is_never_served(backend):
    """Found on the way: an insert did not count as a write of the table, so a cached_get of
    the new row inside the transaction stored it, and a rollback left it served. Author has no
    unique field, so no index retirement marks its table written either."""
    with transaction.atomic(using=backend):
        author = Author.objects.create(name="ghost")
        assert cached_get(Author, author.pk) == author
        transaction.set_rollback(True, using=backend)
    with pytest.raises(Author.DoesNotExist):
        cached_get(Author, author.pk)


def test_a_write_seen_only_by_the_invalidation_log_retires_the_indexes(backend):
    """The log names rows, not values: its retirement must retire the field generations."""
    from cachefresh.dblog.retire import retire_rows

    post = Post.objects.create(slug="logged")
    warm(backend, "logged", "moved")
    with unseen_cursor(backend) as cursor:
        table = Post._meta.db_table
        cursor.execute(f"UPDATE {table} SET slug = 'moved' WHERE id = %s", [post.pk])
    retire_rows(backend, [(Post._meta.db_table, str(post.pk))])
    assert by_slug("moved") == db("moved") and db("moved")[0] == "returned"
    assert by_slug("logged") == db("logged")
