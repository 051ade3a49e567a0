import pytest

from cachefresh import cached_get
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_hit_runs_no_sql(backend, django_assert_num_queries):
    article = Article.objects.create(title="a")
    assert Article.objects.cached_get(pk=article.pk).title == "a"
    with django_assert_num_queries(0, using=backend):
        hit = Article.objects.cached_get(pk=article.pk)
    assert hit.title == "a"
    Article.objects.filter(pk=article.pk).update(title="b")
    assert cached_get(Article, article.pk).title == "b"
