"""Staff admin for the eCard ledger.

Ledger rows are read-only here: staff never add, edit or delete them. What staff can do goes
through the services, each behind its own permission: void an approved load or redeem
(`void_transaction`), load a card (`load_card`), look up a balance (`view_ecardtransaction`) and
export certification evidence (`export_evidence`, which also asks for and downloads the export
of a date range). Card numbers are shown masked everywhere, and the ciphertexts never.

Homes: `transactions` (the ledger list and evidence export), `staff_actions` (void, load, balance
lookup, find a card, and their result pages), `exchanges` (the HTTP exchanges), `search` (card
searches, shared with the ordering admin), `display` (the ledger in words for staff),
`read_only` (no row is added, changed or deleted here), `exports` (evidence exports of a date
range: the request, the job's progress, the download), `dashboard` (the operations dashboard).
"""

# Importing the admins registers them with the admin site.
from ecard_integration.admin import exchanges, exports, transactions  # noqa: F401
from ecard_integration.admin.search import refuse_card_number_search

__all__ = ["refuse_card_number_search"]
