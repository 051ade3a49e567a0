"""Users' tests that capture on_commit callbacks see exactly their own callbacks.

cachefresh keeps its transaction bookkeeping out of Django's run_on_commit list, so
``TestCase.captureOnCommitCallbacks()`` and pytest-django's
``django_capture_on_commit_callbacks`` return the application's callbacks only, and a callback
registered before the capture block never shifts into it. Invalidation still runs at commit,
ahead of the application's callbacks.
"""

import functools

import pytest
from django.db import connection, transaction
from django.test import TestCase

from cachefresh import cached_get
from tests.testapp.models import Author


class CaptureTests(TestCase):
    databases = frozenset({"default"})

    def test_captured_callbacks_are_the_applications_only(self) -> None:
        author = Author.objects.create(name="a")
        transaction.on_commit(lambda: None)  # registered before the capture block
        for execute in (False, True):
            calls: list[str] = []
            with self.captureOnCommitCallbacks(execute=execute) as callbacks:
                Author.objects.filter(pk=author.pk).update(name="b")
                transaction.on_commit(functools.partial(calls.append, "app"))
            self.assertEqual(len(callbacks), 1)
            self.assertEqual(calls, ["app"] if execute else [])

    def test_nothing_of_cachefresh_sits_in_djangos_list(self) -> None:
        author = Author.objects.create(name="a")
        Author.objects.filter(pk=author.pk).update(name="b")
        self.assertEqual(connection.run_on_commit, [])
        self.assertFalse([name for name in vars(connection) if "cachefresh" in name])


@pytest.mark.django_db
def test_pytest_django_capture_fixture(django_capture_on_commit_callbacks):
    author = Author.objects.create(name="a")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        Author.objects.filter(pk=author.pk).update(name="b")
        transaction.on_commit(lambda: None)
    assert len(callbacks) == 1


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_invalidation_runs_at_commit_ahead_of_the_applications_callbacks(backend):
    author = Author.objects.create(name="a")
    cached_get(Author, author.pk)
    seen: list[str] = []
    with transaction.atomic(using=backend):
        Author.objects.filter(pk=author.pk).update(name="b")
        transaction.on_commit(
            lambda: seen.append(cached_get(Author, author.pk).name), using=backend
        )
    assert seen == ["b"]
