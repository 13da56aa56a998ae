"""Ledger rows and their exchanges are written by the services only: the admin never adds,
changes or deletes them."""


class ReadOnlyLedger:
    """Mixed in before `ModelAdmin` or an inline (whose add check also gets the parent `obj`)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
