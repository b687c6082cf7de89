"""The agents' web UI (Flask app factory, one blueprint per module)."""
