from django.db import migrations

from cachefresh.dblog.schema import create_log_table, drop_log_table


class Migration(migrations.Migration):
    initial = True
    operations = [  # noqa: RUF012 -- Django reads it as a class attribute
        migrations.RunPython(create_log_table, drop_log_table, elidable=False),
    ]
