"""Email: call notifications, daily digests and notices, sent from the outbox over SMTP."""
