"""``appyard broker-keys``: the keys and credentials a cluster's nats-server, API and operator start with.

Writes into a folder (files readable by their owner only):

- ``nats-auth.conf``: the lines to ``include`` in nats-server's configuration (operator JWT, accounts, no seed);
- ``account.seed``: the APPYARD account's seed, for the operator (``APPYARD_OPERATOR_NATS_ACCOUNT_SEED``), which
  signs every app's runner credentials with it;
- ``operator.creds`` (``APPYARD_OPERATOR_NATS_CREDS``) and ``api-<namespace>.creds`` (``APPYARD_API_NATS_CREDS``).

The operator's and the system account's seeds are not written: nothing needs them once the JWTs are signed, and
making new keys means running this again (every credential changes).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .. import brokerauth


def _private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def write(folder: Path, namespaces: list[str], days: float) -> list[Path]:
    """Make new keys and write the files; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    trust = brokerauth.Trust.new()
    expires = int(time.time() + days * 86400)
    files = {
        "nats-auth.conf": trust.server_config(),
        "account.seed": trust.account.seed + "\n",
        "operator.creds": trust.mint("operator", brokerauth.operator_permissions(), expires).text,
    }
    for namespace in namespaces:
        files[f"api-{namespace}.creds"] = trust.mint(
            f"api-{namespace}", brokerauth.api_permissions(namespace), expires
        ).text
    written = []
    for name, text in files.items():
        _private(folder / name, text)
        written.append(folder / name)
    return written
