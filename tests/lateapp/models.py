"""An app no settings module installs: tests add it at run time (issue 9, item 4)."""

from django.db import models


class LateThing(models.Model):
    name = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name
