"""The guest's cart, kept in the session: item ids, quantities and the price the guest was shown.

Prices are always read from the catalog; the price kept here is only what the guest saw, so that
a change is reported at checkout instead of being charged silently.
"""

from dataclasses import dataclass
from decimal import Decimal

from ordering import selectors
from ordering.models import MAX_CART_LINES, MAX_LINE_QUANTITY, Item, Order
from ordering.selectors import money
from ordering.services import CartEntry

SESSION_KEY = "ordering_cart"


class CartFullError(Exception):
    """The cart holds as many different items as an order may have."""


@dataclass(frozen=True)
class CartLine:
    item_id: int
    item: Item | None  # None: no longer orderable
    quantity: int
    seen_price: Decimal

    @property
    def price(self) -> Decimal:
        return money(self.item.price) if self.item else self.seen_price

    @property
    def line_total(self) -> Decimal:
        return money(self.price * self.quantity)

    @property
    def price_changed(self) -> bool:
        return self.item is not None and self.price != self.seen_price


class Cart:
    def __init__(self, session):
        self.session = session
        raw = session.get(SESSION_KEY)
        self.data: dict[str, dict] = raw if isinstance(raw, dict) else {}

    def _save(self):
        self.session[SESSION_KEY] = self.data
        self.session.modified = True

    def __len__(self):
        return len(self.data)

    @property
    def count(self) -> int:
        return sum(int(entry.get("quantity", 0)) for entry in self.data.values())

    def add(self, item: Item, quantity: int) -> int:
        """Add to a line (capped at the most a line may hold); returns the line's quantity."""
        key = str(item.id)
        if key not in self.data and len(self.data) >= MAX_CART_LINES:
            raise CartFullError
        current = int(self.data.get(key, {}).get("quantity", 0))
        new = min(MAX_LINE_QUANTITY, current + quantity)
        self.data[key] = {"quantity": new, "price": str(money(item.price))}
        self._save()
        return new

    def set_quantity(self, item_id: int, quantity: int) -> bool:
        key = str(item_id)
        if key not in self.data:
            return False
        self.data[key]["quantity"] = quantity
        self._save()
        return True

    def remove(self, item_id: int) -> bool:
        removed = self.data.pop(str(item_id), None) is not None
        self._save()
        return removed

    def clear(self):
        self.data = {}
        self._save()

    def lines(self) -> list[CartLine]:
        entries = self._entries()
        items = selectors.items_by_id(entry.item_id for entry in entries)
        return [
            CartLine(entry.item_id, items.get(entry.item_id), entry.quantity, entry.seen_price)
            for entry in entries
        ]

    def entries(self) -> list[CartEntry]:
        return self._entries()

    def _entries(self) -> list[CartEntry]:
        entries = []
        for key, value in self.data.items():
            try:
                entries.append(
                    CartEntry(int(key), int(value["quantity"]), money(Decimal(value["price"])))
                )
            except (KeyError, TypeError, ValueError, ArithmeticError):
                continue  # a damaged entry is dropped, never guessed at
        return entries

    def total(self) -> Decimal:
        return money(sum((line.line_total for line in self.lines() if line.item), 0))

    def seen_total(self) -> Decimal:
        """The total at the prices the guest was shown, without a query (the menu's cart bar;
        checkout compares the catalog's prices)."""
        return money(sum((entry.seen_price * entry.quantity for entry in self._entries()), 0))

    def accept_catalog(self):
        """After reporting changes: drop what is gone, take the catalog's prices now."""
        for line in self.lines():
            if line.item is None:
                self.data.pop(str(line.item_id), None)
            else:
                self.data[str(line.item_id)]["price"] = str(line.price)
        self._save()

    def restore(self, order: Order):
        """Put a cancelled order's items back in the cart (those still on the menu)."""
        items = selectors.items_by_id(line.item_id for line in order.lines.all() if line.item_id)
        self.data = {}
        for line in order.lines.all():
            item = items.get(line.item_id)
            if item is not None and len(self.data) < MAX_CART_LINES:
                self.data[str(item.id)] = {
                    "quantity": min(line.quantity, MAX_LINE_QUANTITY),
                    "price": str(money(line.unit_price)),
                }
        self._save()
