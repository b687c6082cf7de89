"""The team around the tickets (issue 12): applications and vetting, the training checklist,
probation with a mentor, leaving, two-factor sign-in; the rota (shifts per queue, sign-ups,
swaps: `rota`), coverage hour by hour (`coverage`) and the on-call runner that tells the
specialists on duty of every ticket new in specialist-safety (`oncall`).

DESIGN.md "The team and the reporter" describes the whole.
"""
