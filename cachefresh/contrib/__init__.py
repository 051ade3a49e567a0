"""Optional integrations: a django-debug-toolbar panel and a Prometheus collector."""
