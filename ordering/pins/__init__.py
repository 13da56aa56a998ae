"""Guest PINs, for online ordering and the kiosk alike: `throttle` (our counters, eCard's own
count from the ledger, the card's guard), `lockouts` (the notes and listing for staff) and
`attempt` (who the guest is, `Guest`, and the one guarded PIN attempt every flow makes).
Callers import the module they use (`from ordering.pins import throttle`)."""
