"""Security policies shared by validation and the runtime (one decision, two places that enforce it)."""
