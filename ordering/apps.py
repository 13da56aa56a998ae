from django.apps import AppConfig


class OrderingConfig(AppConfig):
    name = "ordering"
    verbose_name = "Ordering"

    def ready(self):
        from ecard_integration import callers as ecard_callers
        from ordering import callers
        from ordering.services.told import told_to_guest

        # The ledger learns outcomes (reconciliation, staff voids) that its orders must show.
        callers.register()
        # The certification pack shows what a guest reads of each guest-facing case.
        ecard_callers.register(tell_guest=told_to_guest)
