"""The Prometheus collector and the django-debug-toolbar panel, with the real libraries."""

import re
import threading

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import path

from cachefresh import cached_get, cached_get_many, signals, stats
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def test_prometheus_collector_exports_the_counters(backend):
    from prometheus_client import CollectorRegistry, generate_latest

    from cachefresh.contrib.prometheus import register

    registry = CollectorRegistry()
    register(registry)
    stats.reset()
    article = Article.objects.create(title="a")
    cached_get(Article, article.pk)
    cached_get_many(Article, [article.pk])
    Article.objects.filter(pk=article.pk).update(title="b")

    text = generate_latest(registry).decode()

    assert 'cachefresh_events_total{event="hit",name="testapp.Article"} 1.0' in text
    assert 'cachefresh_events_total{event="miss",name="testapp.Article"} 1.0' in text
    assert 'cachefresh_events_total{event="fill",name="testapp.Article"} 1.0' in text
    table = Article._meta.db_table
    assert f'cachefresh_events_total{{event="invalidated_rows",name="{table}"}} 1.0' in text


@pytest.fixture
def toolbar():
    # The toolbar imports its models, so its app must be installed while it is used.
    apps = [*settings.INSTALLED_APPS, "django.contrib.staticfiles", "debug_toolbar"]
    # INSTALLED_APPS is applied before the other overrides: STATIC_URL goes first.
    with override_settings(STATIC_URL="/static/"), override_settings(INSTALLED_APPS=apps):
        from debug_toolbar.toolbar import DebugToolbar

        request = RequestFactory().get("/")
        yield request, DebugToolbar(request, lambda request: HttpResponse("unused"))


def render_panel(toolbar, view):
    from cachefresh.contrib.debug_toolbar import CacheFreshPanel

    request, bar = toolbar
    panel = CacheFreshPanel(bar, view)
    panel.enable_instrumentation()
    try:
        response = panel.process_request(request)
    finally:
        panel.disable_instrumentation()
    panel.generate_stats(request, response)
    return panel


def test_debug_toolbar_panel_lists_the_requests_events(backend, toolbar):
    article = Article.objects.create(title="a")
    other = Article.objects.create(title="b")
    cached_get(Article, other.pk)

    def view(request):
        cached_get(Article, article.pk)  # miss
        cached_get(Article, article.pk)  # hit
        cached_get(Article, other.pk)  # hit
        Article.objects.filter(pk=article.pk).update(title="c")
        signals.refreshed.send(Article, instance=article, strategy="columns", fields=["title"])
        return HttpResponse("ok")

    panel = render_panel(toolbar, view)

    assert panel.nav_subtitle == "2 hits, 1 misses"
    html = panel.content
    assert "2 hit, 1 miss, 1 invalidated, 1 refresh" in html
    assert f"<td>miss</td><td>testapp.Article</td><td>{article.pk}</td>" in html
    assert f"<td>{backend}</td><td>absent</td>" in html
    assert f"<td>hit</td><td>testapp.Article</td><td>{other.pk}</td>" in html
    assert f"{Article._meta.db_table}: 1 row(s)" in html
    assert "<td>refresh</td>" in html and "<td>columns</td>" in html


def test_debug_toolbar_panel_sees_only_its_own_request(backend, toolbar):
    article = Article.objects.create(title="a")

    def elsewhere():
        cached_get(Article, article.pk)

    def view(request):
        # Another thread's reads (another request) happen while this request runs.
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        return HttpResponse("ok")

    panel = render_panel(toolbar, view)
    assert panel.nav_subtitle == "0 hits, 0 misses"
    assert "No cachefresh activity." in panel.content
    cached_get(Article, article.pk)  # outside any request: collected nowhere, no error


def test_the_panel_listens_only_while_a_request_is_instrumented(backend, toolbar):
    """Elsewhere the read path keeps its no-receiver fast path, and async hits their event
    loop: a panel module imported for good must not connect for good."""
    import cachefresh.contrib.debug_toolbar  # noqa: F401

    watched = (signals.cache_hit, signals.cache_miss, signals.invalidated, signals.refreshed)
    during = []

    def view(request):
        during.append([len(signal.receivers) for signal in watched])
        return HttpResponse("ok")

    assert [signal.receivers for signal in watched] == [[], [], [], []]
    render_panel(toolbar, view)
    render_panel(toolbar, lambda request: render_panel(toolbar, view) and HttpResponse("ok"))
    assert during == [[1, 1, 1, 1], [1, 1, 1, 1]]  # nested requests: still connected once
    assert [signal.receivers for signal in watched] == [[], [], [], []]


def test_panel_escapes_what_it_shows(backend, toolbar):
    def view(request):
        signals.refreshed.send(Article, instance=Article(pk=1), strategy="<script>", fields=[])
        return HttpResponse("ok")

    html = render_panel(toolbar, view).content
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.fixture
def toolbar_site():
    """A site with the real toolbar middleware, showing only the cachefresh panel."""
    apps = [*settings.INSTALLED_APPS, "django.contrib.staticfiles", "debug_toolbar"]
    templates = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
    with (
        override_settings(STATIC_URL="/static/"),
        override_settings(INSTALLED_APPS=apps),
        override_settings(
            DEBUG=True,
            INTERNAL_IPS=["127.0.0.1"],
            TEMPLATES=templates,
            MIDDLEWARE=["debug_toolbar.middleware.DebugToolbarMiddleware"],
            DEBUG_TOOLBAR_PANELS=["cachefresh.contrib.debug_toolbar.CacheFreshPanel"],
            DEBUG_TOOLBAR_CONFIG={"IS_RUNNING_TESTS": False},
        ),
    ):
        from debug_toolbar.toolbar import debug_toolbar_urls

        class Urls:
            urlpatterns = (
                path("page/<int:pk>/", lambda request, pk: page(pk)),
                *debug_toolbar_urls(),
            )

        with override_settings(ROOT_URLCONF=Urls):
            yield Client()


def page(pk):
    title = cached_get(Article, pk).title
    return HttpResponse(f"<html><body><h1>{title}</h1></body></html>")


def test_panel_renders_inside_the_real_toolbar(backend, toolbar_site):
    article = Article.objects.create(title="seen")
    cached_get(Article, article.pk)  # before the request: a hit inside it

    response = toolbar_site.get(f"/page/{article.pk}/")

    html = response.content.decode()
    assert "<h1>seen</h1>" in html
    assert "CacheFreshPanel" in html and "1 hits, 0 misses" in html
    request_id = re.search(r'data-request-id="([0-9a-f]+)"', html).group(1)
    rendered = toolbar_site.get(
        "/__debug__/render_panel/", {"request_id": request_id, "panel_id": "CacheFreshPanel"}
    )
    content = rendered.json()["content"]
    assert f"<td>hit</td><td>testapp.Article</td><td>{article.pk}</td>" in content
