"""Unit tests for the mail edge: the MIME parser and its helpers."""
