"""Trust in mail (issue 8): what a message proves about who sent it and which ticket it
continues.

- `orgdomain`: organisational domains (the Public Suffix List) and DMARC alignment.
- `dmarc`: DMARC records (RFC 7489) and their evaluation, given DKIM and SPF results.
- `verdict`: one verdict per message (pass, fail, none) and the sender's standing for
  follow-ups (is the From address shown, plausible, unproven or refuted).
- `authresults`: reading Authentication-Results (RFC 8601) from our own authserv-ids only.
- `replytokens`: per-ticket reply addresses no one can guess (`help+<token>@domain`).
"""
