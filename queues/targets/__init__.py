"""Response targets (issue 13): per-queue first-response and update targets in calendar
hours, a clock per ticket that stops while the ticket waits for the reporter, due times on
tickets, and the breach check that `switchboard work` runs on a timer.

    models.py     the tables: queue_targets, ticket_clocks, target_breaches
    policy.py     each queue's targets: staff's row, else the defaults in defaults.toml
    clock.py      the clock of one ticket (start, pause, resume, answered) and its due time
    tracking.py   keeps every ticket's clock in step with its changes, wherever they are made
    breaches.py   the breach check: priority up, the on-duty people and staff told, recorded
"""
