"""Reaching the network on someone's behalf: the SSRF guard (``guard``), the guarded HTTP
client (``client``) and the guarded TLS handshake (``tls``). Shared by the web tools and the
scheduler's HTTP and TLS checks, so both refuse the same addresses in the same way."""
