"""The staff lists' filters with known choices: a sidebar that costs nothing to draw.

The admin's default filter for a plain column (`AllValuesFieldListFilter`) finds its choices
with `SELECT DISTINCT column` over the whole table, on every page view: on a year's ledger that
is a full scan. These list what the code knows can be there (the stores the callers register,
wire's endpoints, the statuses eCard answers) under the parameter names the admin's own filters
used, so links and bookmarks keep working.
"""

from django.contrib import admin

from ecard_integration import callers, wire
from ecard_integration.models import State


class KnownChoicesFilter(admin.SimpleListFilter):
    """`?<field>__exact=<value>`, choices from `known_choices()`, never from the table."""

    field = ""

    def __init__(self, request, params, model, model_admin):
        self.parameter_name = f"{self.field}__exact"
        super().__init__(request, params, model, model_admin)

    def known_choices(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def lookups(self, request, model_admin):
        return self.known_choices()

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(**{self.field: self.value()})


class StoreFilter(KnownChoicesFilter):
    """The stores our callers send transactions for (`callers.store_choices`)."""

    title = "store"
    field = "store_id"

    def known_choices(self):
        return [*callers.store_choices(), ("", "No store (staff, certification)")]


class ExchangeKindFilter(KnownChoicesFilter):
    title = "kind"
    field = "kind"

    def known_choices(self):
        return [("transaction", "Transaction"), ("token", "Token")]


class EndpointFilter(KnownChoicesFilter):
    title = "endpoint"
    field = "endpoint"

    def known_choices(self):
        return [(wire.TOKEN_ENDPOINT, "token")] + [(e.value, e.value) for e in wire.Endpoint]


# The answers staff look for; any other status is still reachable by its URL.
KNOWN_STATUSES = (200, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504)
NO_ANSWER = "none"


class ResponseStatusFilter(KnownChoicesFilter):
    """An HTTP status, or no answer at all (a timeout, a lost connection)."""

    title = "response status"
    field = "response_status"

    def known_choices(self):
        return [(str(status), str(status)) for status in KNOWN_STATUSES] + [
            (NO_ANSWER, "No answer")
        ]

    def queryset(self, request, queryset):
        if self.value() == NO_ANSWER:
            return queryset.filter(response_status__isnull=True)
        if self.value() is not None and not self.value().isdigit():
            return queryset.none()
        return super().queryset(request, queryset)


ATTENTION_STATES = [State.UNKNOWN, State.NEEDS_ATTENTION]


class AttentionFilter(admin.SimpleListFilter):
    title = "attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("yes", "Unknown or needs attention")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(state__in=ATTENTION_STATES)
        return queryset
