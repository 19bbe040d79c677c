"""Reaching the network on someone's behalf: the SSRF guard (``guard``), the guarded HTTP
client (``client``) and the guarded TLS handshake (``tls``). Shared by the web tools, the
scheduler's HTTP and TLS checks and the alert webhooks, so all refuse the same addresses in
the same way."""
