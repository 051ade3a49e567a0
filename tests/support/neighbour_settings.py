"""Settings of the neighbour probe (tests/support/neighbour_probe.py): tests.settings with other
libraries that patch Django's compilers installed around cachefresh.

``CACHEFRESH_NEIGHBOURS`` lists the apps in INSTALLED_APPS order, cachefresh among them, e.g.
``cachalot,cachefresh`` or ``cachefresh,cacheops``; ``debug_toolbar`` also turns on its
middleware. The order is fixed when the app registry is populated, hence one process per
order. ``CACHEFRESH_NEIGHBOUR_RUN`` is in every key any library writes, so the probe can delete
them all.
"""

import os
import uuid

from tests.settings import *  # noqa: F403
from tests.settings import CACHES, DATABASES, REDIS_URL, SERVERS

RUN = os.environ.setdefault("CACHEFRESH_NEIGHBOUR_RUN", uuid.uuid4().hex[:10])
NEIGHBOURS = os.environ["CACHEFRESH_NEIGHBOURS"].split(",")
assert "cachefresh" in NEIGHBOURS, NEIGHBOURS

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    *(["django.contrib.staticfiles"] if "debug_toolbar" in NEIGHBOURS else []),
    *NEIGHBOURS,
    "tests.testapp",
    "tests.refreshapp",
]
# Not the parent test run's database: both would create and drop the same one.
if SERVERS:
    DATABASES["pg"]["TEST"] = {"NAME": f"test_cachefresh_neighbours_{os.getpid()}"}

CACHES["redis"]["KEY_PREFIX"] = f"cachefresh-neighbours-{RUN}"

# django-cachalot caches every SELECT in its own cache; on Redis when it is there.
CACHES["cachalot"] = (
    dict(CACHES["redis"], KEY_PREFIX=f"cachalot-neighbours-{RUN}")
    if SERVERS
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cachalot"}
)
CACHALOT_CACHE = "cachalot"

# django-cacheops caches the test models' queries on Redis, under this run's prefix.
CACHEOPS_REDIS = REDIS_URL
CACHEOPS_PREFIX = "tests.support.neighbour_settings.cacheops_prefix"
CACHEOPS = {"testapp.*": {"ops": "all", "timeout": 60}}


def cacheops_prefix(query: object) -> str:
    return f"cacheops-neighbours-{RUN}:"


# django-debug-toolbar with its SQL panel (it wraps cursors), cachalot's panel (it reloads
# cachalot's settings on every request) when cachalot is installed, and ours.
if "debug_toolbar" in NEIGHBOURS:
    DEBUG = True
    STATIC_URL = "/static/"
    ROOT_URLCONF = "tests.support.neighbour_probe"
    MIDDLEWARE = ["debug_toolbar.middleware.DebugToolbarMiddleware"]
    TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
    DEBUG_TOOLBAR_PANELS = [
        "debug_toolbar.panels.sql.SQLPanel",
        *(["cachalot.panels.CachalotPanel"] if "cachalot" in NEIGHBOURS else []),
        "cachefresh.contrib.debug_toolbar.CacheFreshPanel",
    ]
    DEBUG_TOOLBAR_CONFIG = {
        "SHOW_TOOLBAR_CALLBACK": lambda request: True,
        "IS_RUNNING_TESTS": False,
    }
