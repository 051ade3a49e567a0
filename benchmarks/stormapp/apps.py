from django.apps import AppConfig


class StormAppConfig(AppConfig):
    name = "benchmarks.stormapp"
    label = "stormapp"
    default_auto_field = "django.db.models.AutoField"
