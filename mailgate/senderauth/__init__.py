"""Sender authentication at the embedded SMTP gateway: DKIM, SPF and DMARC (issue 8).

`check_message` looks at one accepted message (its bytes as received, the client's IP and
HELO, the envelope sender) and returns the verdict of queues.trust.verdict, which is stored
with the message. DNS goes through dnspython with short timeouts and one time budget per
message (`resolver`); a DNS failure is "temperror", which makes the verdict "none"
(unknown changes nothing). Behind Postfix the milters do this work and the gateway reads
their Authentication-Results instead (queues.trust.authresults).
"""

from mailgate.senderauth.check import check_message

__all__ = ["check_message"]
