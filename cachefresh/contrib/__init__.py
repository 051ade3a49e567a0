"""Optional integrations: a django-debug-toolbar panel, a Prometheus collector, and
``get_object()`` for Django REST framework's generic views."""
