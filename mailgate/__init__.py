"""The mail edge: MIME parser, file sources, SMTP/LMTP gateway, IMAP fetcher, runners."""
