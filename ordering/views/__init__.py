"""Online ordering pages, one module per part (`shop`: menu, cart, checkout; `balance`: the
balance check with the PIN; `orders`: the order and its payment; `common`: what they share);
`ordering/urls.py` maps them."""
