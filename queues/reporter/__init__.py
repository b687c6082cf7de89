"""The reporter (issue 13): the public form, the reporter's language, acknowledgements per
queue and language, status mail on every change of hands, and the status link.

    form.py        a form submission -> an RFC 5322 message, stored like mail (source "form")
    language.py    which language a reporter reads: the form's choice, else detected, else
                   English with the other languages below
    texts.py       the reporter's mail in their language (files, or staff rows per queue)
    acks.py        staff-edited acknowledgements per queue and language (sandbox)
    statuslink.py  unguessable, revocable status tokens and the status page's data
    status.py      status mail when a ticket changes hands (taken, pending, specialists,
                   closed), through the outbox, at most `status_mail_per_day` a ticket
    limits.py      per-client limits of the public forms
    models.py      their tables (migration 0014)
"""
