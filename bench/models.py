"""The bench's one table, for baseline (b): created by bench/stack.py in the bench database."""

from django.db import models


class BaselineWrite(models.Model):
    """One row per baseline (b) request: inserted, then updated once, as a payment's rows are."""

    session_key = models.CharField(max_length=40)
    state = models.CharField(max_length=8, default="new")

    class Meta:
        app_label = "bench"
        db_table = "bench_baseline_write"
        managed = False  # no migration: bench/stack.py creates it with the schema editor

    def __str__(self) -> str:
        return f"{self.pk} {self.state}"


def create_table() -> None:
    from django.db import connection

    if BaselineWrite._meta.db_table in connection.introspection.table_names():
        return  # a kept database (scenario G's) has it already
    with connection.schema_editor() as editor:
        editor.create_model(BaselineWrite)
