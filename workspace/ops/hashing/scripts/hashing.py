"""Hashing text with the algorithms Python's hashlib offers."""

from __future__ import annotations

import hashlib

from ..context import Context
from ..state import State

PBKDF2 = "pbkdf2_sha256"


def hash_algorithms(state: State, context: Context) -> Context:
    """Offer the algorithms guaranteed on every platform, plus PBKDF2."""
    names = sorted(name for name in hashlib.algorithms_guaranteed if not name.startswith("shake_"))
    choices = [(name, name.upper().replace("_", "-")) for name in names]
    context.hash.components.algorithm.set_options([*choices, (PBKDF2, "PBKDF2-SHA256 (salted, slow)")])
    return context


def compute_hash(state: State, context: Context) -> Context:
    """Hash the text with the chosen algorithm, salted when asked."""
    form = state.hash
    result = context.hash.components.result
    if not form.text:
        result.text = ""
        return context
    algorithm = form.algorithm or "sha256"
    salt = (form.salt or "").encode() if form.use_salt else b""
    data = form.text.encode()
    if algorithm == PBKDF2:
        if not salt:
            context.hash.components.salt.set_message("PBKDF2 needs a salt.", "error")
            return context
        iterations = form.iterations or 100_000
        digest = hashlib.pbkdf2_hmac("sha256", data, salt, iterations).hex()
    elif algorithm in hashlib.algorithms_guaranteed:
        digest = hashlib.new(algorithm, salt + data).hexdigest()
    else:
        context.hash.components.algorithm.set_message(f"Unknown algorithm {algorithm!r}.", "error")
        return context
    result.text = f"**{algorithm}** ({len(digest) * 4} bits)\n\n`{digest}`"
    return context
