"""Evidence packages: build (package, summary, manifest), sign and encrypt (keys), timestamp
(RFC 3161), and verify. The package layout is a contract partners rely on (DESIGN.md,
"Police liaison and evidence packages")."""
