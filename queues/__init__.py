"""The core of Switchboard: models, migrations, services (tickets, routing, follow-up, outbox)."""
