"""System checks: each message, by id, under the setting that should raise it."""

import pytest
from django.apps import apps
from django.core import checks
from django.db import models
from django.test import override_settings

from cachefresh.checks import check_cachefresh
from tests.testapp.models import Priced

VALID = {"TIMEOUT": 600, "MODELS": ["testapp.Listed"]}


def ids(**config):
    with override_settings(CACHEFRESH=config):
        return sorted(message.id for message in check_cachefresh())


def messages(**config):
    with override_settings(CACHEFRESH=config):
        return check_cachefresh()


def test_valid_settings_raise_nothing():
    assert ids(**VALID, CACHE="redis") == []


def test_the_check_is_registered_with_django():
    # The test settings silence W002 only; a valid setup passes the project's own check run.
    assert check_cachefresh in checks.registry.registry.get_checks()
    with override_settings(CACHEFRESH=dict(VALID, TIMEOUT=-1)):
        found = checks.run_checks(tags=["caches"])
    assert [m.id for m in found] == ["cachefresh.E004"]


@pytest.mark.parametrize(
    ("config", "text"),
    [
        ({"TIMOUT": 5}, "unknown key 'TIMOUT'"),
        ({"KEY_PREFIX": "a b"}, "KEY_PREFIX"),
        ({"MODELS": "testapp.Article"}, "must be a list"),
        ({"MODELS": ["Article"]}, "is not 'app_label.Model'"),
        ({"REFRESH_STRATEGY": "fast"}, "valid strategies are"),
        ({"RETRY_INTERVAL": 0}, "RETRY_INTERVAL"),
        ({"SIGN_ENTRIES": "yes"}, "SIGN_ENTRIES"),
    ],
)
def test_malformed_setting_is_E001(config, text):
    found = messages(**config)
    assert [m.id for m in found] == ["cachefresh.E001"]
    assert text in found[0].msg
    assert found[0].level == checks.ERROR


def test_setting_that_is_not_a_dict_is_E001():
    with override_settings(CACHEFRESH=["CACHE"]):
        found = check_cachefresh()
    assert [m.id for m in found] == ["cachefresh.E001"]
    assert "must be a dict" in found[0].msg


def test_model_that_is_not_installed_is_E002():
    found = messages(CACHE="redis", MODELS=["testapp.Nope"])
    assert [m.id for m in found] == ["cachefresh.E002"]
    assert "'testapp.Nope', which is not an installed model" in found[0].msg


@pytest.fixture
def unmanaged_model():
    """An unsupported model, registered with the app registry only for one test."""

    class Outside(models.Model):
        name = models.CharField(max_length=10)

        class Meta:
            app_label = "testapp"
            managed = False

        def __str__(self):
            return self.name

    yield Outside
    del apps.all_models["testapp"]["outside"]
    apps.clear_cache()


def test_unsupported_model_named_explicitly_is_E002(unmanaged_model):
    found = messages(CACHE="redis", MODELS=["testapp.Outside"])
    assert [m.id for m in found] == ["cachefresh.E002"]
    assert "cannot cache testapp.Outside: it is unmanaged" in found[0].msg


def test_unsupported_model_matched_by_wildcard_is_W001(unmanaged_model):
    found = [m for m in messages(CACHE="redis", MODELS=["testapp.*"]) if m.obj is not Priced]
    assert [m.id for m in found] == ["cachefresh.W001"]
    assert found[0].obj is unmanaged_model
    assert "testapp.Outside matches a wildcard" in found[0].msg


def test_unknown_cache_alias_is_E003():
    found = messages(**VALID, CACHE="nowhere")
    assert [m.id for m in found] == ["cachefresh.E003"]
    assert "'nowhere', which is not in CACHES (known aliases: default, redis)" in found[0].msg


@pytest.mark.parametrize("timeout", [0, -5, 1.5, "600", True, None])
def test_timeout_that_is_not_a_positive_integer_is_E004(timeout):
    found = messages(**dict(VALID, TIMEOUT=timeout))
    assert [m.id for m in found] == ["cachefresh.E004"]


def test_errors_of_several_keys_are_all_reported():
    assert ids(CACHE="nowhere", TIMEOUT=0, TIMOUT=1) == [
        "cachefresh.E001",
        "cachefresh.E003",
        "cachefresh.E004",
    ]


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    ],
)
def test_process_local_cache_without_debug_is_W002(backend):
    caches = {"default": {"BACKEND": backend}}
    with override_settings(CACHES=caches, DEBUG=False, CACHEFRESH=VALID):
        found = check_cachefresh()
    assert [m.id for m in found] == ["cachefresh.W002"]
    assert found[0].level == checks.WARNING
    with override_settings(CACHES=caches, DEBUG=True, CACHEFRESH=VALID):
        assert check_cachefresh() == []


def test_shared_cache_without_debug_is_fine():
    with override_settings(DEBUG=False):
        assert ids(**VALID, CACHE="redis") == []


def test_timeout_over_thirty_days_is_W003():
    assert ids(**dict(VALID, CACHE="redis", TIMEOUT=31 * 24 * 3600)) == ["cachefresh.W003"]
    assert ids(**dict(VALID, CACHE="redis", TIMEOUT=30 * 24 * 3600)) == []
