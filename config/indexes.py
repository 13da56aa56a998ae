"""`AddIndexOnline`: a migration's `AddIndex` that never stops the payments while it builds.

A plain `CREATE INDEX` holds a SHARE lock on its table until it is built: on the ledger's
millions of rows that is seconds during which no payment can write its row. On PostgreSQL this
builds the index with `CREATE INDEX CONCURRENTLY` (writes go on; the build takes two scans),
which cannot run inside a transaction: the migration that uses it says `atomic = False`.
Elsewhere (SQLite, the embedded default) it is the plain `AddIndex`. docs/operations.md says
what to do if a concurrent build is interrupted (an INVALID index is left behind).
"""

from django.db import migrations


class AddIndexOnline(migrations.AddIndex):
    """`AddIndex`, built `CONCURRENTLY` on PostgreSQL (state and autodetector: as `AddIndex`)."""

    def _concurrently(self, schema_editor) -> dict:
        return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, **self._concurrently(schema_editor))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, **self._concurrently(schema_editor))
