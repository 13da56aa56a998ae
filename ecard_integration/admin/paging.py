"""Staff lists that cost the page they show, not the table they page through (shared with the
ordering admin).

The admin counts a list twice: `COUNT(*)` of the filtered rows for the paginator and, for "N
results (M total)", of the whole table; on millions of rows each reads them all.
`ScaledListMixin` drops the second (`show_full_result_count = False`) and pages with
`EstimatedCountPaginator`: an exact count up to `EXACT_UP_TO` rows (reading at most that many),
beyond it PostgreSQL's planner estimate, shown as "about N" (admin/pagination.html).
"""

import json

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_UP_TO = 1000


class EstimatedCountPaginator(Paginator):
    """Exact up to `EXACT_UP_TO` rows; beyond, the planner's estimate (`estimated` is True)."""

    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        exact = queryset.order_by()[: EXACT_UP_TO + 1].count()
        if exact <= EXACT_UP_TO:
            return exact
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return queryset.count()  # the embedded default's small tables
        self.estimated = True
        return max(EXACT_UP_TO + 1, planner_estimate(queryset))


def planner_estimate(queryset) -> int:
    """How many rows PostgreSQL expects `queryset` to return (EXPLAIN: no row is read)."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class ScaledListMixin:
    """For a `ModelAdmin` whose table grows with the traffic."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # "Show counts" would count every filter choice over the filtered rows: never offered.
    show_facets = admin.ShowFacets.NEVER
