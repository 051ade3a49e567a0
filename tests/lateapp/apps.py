from django.apps import AppConfig


class LateAppConfig(AppConfig):
    name = "tests.lateapp"
    label = "lateapp"
    default_auto_field = "django.db.models.AutoField"
