"""tests.settings with CACHEFRESH and extra apps taken from the environment, for start-up tests
that run management commands in a subprocess."""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

CACHEFRESH = json.loads(os.environ.get("CACHEFRESH_STARTUP_SETTING", "{}"))
INSTALLED_APPS = INSTALLED_APPS + json.loads(os.environ.get("CACHEFRESH_STARTUP_APPS", "[]"))
