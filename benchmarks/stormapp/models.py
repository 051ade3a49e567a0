from django.db import models


class Row(models.Model):
    """A hot row. A plain manager: each library is switched on by settings alone.

    The table is created by :data:`benchmarks.env.lab.TABLE_SQL`, not by migrations, so
    the parent needs no Django; keep the two in step.
    """

    value = models.BigIntegerField()
    note = models.CharField(max_length=64)
    writes = models.IntegerField()

    class Meta:
        app_label = "stormapp"
        db_table = "stormapp_row"

    def __str__(self) -> str:
        return f"Row {self.pk}: {self.state()}"

    def state(self) -> tuple[int, str, int]:
        return (self.value, self.note, self.writes)
