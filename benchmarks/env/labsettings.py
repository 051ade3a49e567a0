"""Django settings of storm and herd worker processes: one library under test per process.

The parent (:class:`benchmarks.env.lab.Lab`) passes everything in one environment
variable: the library, the lab database (usually behind a latency proxy), the Redis URL and
the key prefix that keeps this run's keys apart on the shared Redis.
"""

import json
import os

from benchmarks.env.lab import CONFIG_ENV

CONFIG = json.loads(os.environ[CONFIG_ENV])
LIBRARY = CONFIG["library"]
KEY_PREFIX = CONFIG["key_prefix"]
TIMEOUT = 600  # every key of a run expires even if its clean-up never happens

SECRET_KEY = "cachefresh-storm"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["benchmarks.stormapp"]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.postgresql", **CONFIG["database"]},
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"]["OPTIONS"] = {"charset": "utf8mb4"}
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CONFIG["redis_url"],
        "KEY_PREFIX": KEY_PREFIX,
        "TIMEOUT": TIMEOUT,
    },
}

if LIBRARY == "cachefresh":
    INSTALLED_APPS.append("cachefresh")
    CACHEFRESH = {
        "CACHE": "default",
        "TIMEOUT": TIMEOUT,
        "MODELS": ["stormapp.Row"],
        **CONFIG["cachefresh_settings"],
    }
elif LIBRARY == "cacheops":
    INSTALLED_APPS.append("cacheops")
    CACHEOPS_REDIS = CONFIG["cacheops_redis_url"]
    CACHEOPS = {"stormapp.row": {"ops": "get", "timeout": TIMEOUT}}
    CACHEOPS_PREFIX = "benchmarks.env.labsettings.cacheops_prefix"
elif LIBRARY == "cachalot":
    INSTALLED_APPS.append("cachalot")
    CACHALOT_CACHE = "default"
    CACHALOT_TIMEOUT = TIMEOUT
    CACHALOT_ONLY_CACHABLE_TABLES = ("stormapp_row",)


def cacheops_prefix(query: object) -> str:
    return f"{KEY_PREFIX}:"
