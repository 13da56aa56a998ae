from django.apps import AppConfig


class OrderingConfig(AppConfig):
    name = "ordering"
    verbose_name = "Ordering"

    def ready(self):
        from ordering import callers

        # The ledger learns outcomes (reconciliation, staff voids) that its orders must show.
        callers.register()
