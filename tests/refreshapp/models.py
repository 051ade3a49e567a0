from django.db import models

from cachefresh.models import CacheFreshModel


class Gadget(CacheFreshModel):
    name = models.CharField(max_length=100)
    owner = models.ForeignKey("testapp.Author", null=True, on_delete=models.SET_NULL)
