"""HTTP gateway: health, readiness, metrics, admin status, channel webhooks."""
