from django.apps import AppConfig


class CacheFreshConfig(AppConfig):
    name = "cachefresh"
    verbose_name = "cachefresh"

    def ready(self) -> None:
        from django.conf import settings

        from cachefresh import checks, conf, invalidation
        from cachefresh.registry import registry

        del checks  # imported for its @register side effect
        # A bad setting is reported by the system checks (cachefresh.E001) and raised on use;
        # with a valid one, an unsupported model named explicitly stops start-up here.
        if not conf.validate(getattr(settings, "CACHEFRESH", None)):
            registry.cached_models()
        invalidation.install()
