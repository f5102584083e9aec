"""Adapters: NATS (dispatch), files (store), Kubernetes (cluster), python-lsp-server (lsp)."""
