"""Kiosk pages, one module per part (`device`, `visit`, `payment`, `balance`; `common`: the device
and visit checks they share); `kiosk/urls.py` maps them."""
