"""Django's PostgreSQL backend with a cheaper health check (ENGINE "relay.postgresql"; see base)."""
