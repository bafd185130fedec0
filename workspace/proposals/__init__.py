"""Payment-split proposals: draft -> published (comment window) -> final, exact to the cent.

A lead drafts a proposal for a production (a record, usually a snapshot): money (revenue,
costs, currency), the artists' share of profit (5,000 bp by default), optional separate
pools, and lines (a contributor or a named person whose money is held, the records the
line credits, a role category, a share in basis points and the reasoning). Publishing
notifies everyone included and opens the comment window (at least
``TROUPE_PROPOSAL_MIN_WINDOW_DAYS`` days, 14 by default). Anyone who can see the project
comments on any line, threaded; leads answer and may edit lines until the window closes,
each edit logged with the JSON before and after and notified to those whose line changed.
A lead finalises only after the deadline and once every comment has a lead's answer: the
proposal is frozen, hashed with :func:`workspace.proposals.payouts.proposal_hash` and each line's
payout stored in minor units. Included contributors accept a version: an acceptance binds
to the hash of that moment and shows as stale once the proposal changes.

All money arithmetic is :mod:`workspace.proposals.payouts`; the clock is
:func:`workspace.proposals.clock.now` (tests patch it). ``rules`` holds what needs no
write (money, problems, payload, hash, window), ``selectors`` the reads and JSON,
``services`` the writes.
"""
