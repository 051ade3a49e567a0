from django.db import migrations

from cachefresh.dblog.schema import create_log_table, drop_log_table


class Migration(migrations.Migration):
    initial = True
    operations = [  # noqa: RUF012 -- Django reads it as a class attribute
        # atomic=False: on a database that cannot roll DDL back (MySQL, MariaDB) Django would
        # otherwise run this RunPython inside atomic(), where its schema editor refuses DDL.
        # Where DDL is transactional (PostgreSQL, SQLite) the migration's own transaction
        # still holds it.
        migrations.RunPython(create_log_table, drop_log_table, elidable=False, atomic=False),
    ]
