"""Abuse controls (issue 13): block and allow lists, senders marked abusive, a cap of new
tickets per sender per day, and floods of near-identical reports collapsed into one ticket.

    models.py    the tables: sender_rules, abuse_actions, report_fingerprints, floods
    lists.py     block/allow/abusive entries by address or domain, with reason and expiry
    similarity.py  the similarity key of a report (normalised shingles, 64-bit simhash)
    gate.py      what ingest asks at decide time: hold, ignore, cap or collapse a message
    actions.py   the record of what the controls did, and staff undoing it (release, split)

Every control is reversible, recorded (`abuse_actions`, the audit log for staff changes)
and visible to staff (webui.staff_abuse).
"""
