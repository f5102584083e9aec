"""Encoding and decoding text as Base64, hex or URL percent-encoding."""

from __future__ import annotations

import base64
import binascii
import urllib.parse

from ..context import Context
from ..state import State


def _decode_bytes(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.hex()


def transcode(state: State, context: Context) -> Context:
    """Encode or decode the input with the chosen codec."""
    form = state.encode
    source = form.source or ""
    output = context.encode.components.output
    try:
        if form.codec == "hex":
            text = _decode_bytes(bytes.fromhex(source)) if form.decode else source.encode().hex()
        elif form.codec == "url":
            text = urllib.parse.unquote(source) if form.decode else urllib.parse.quote(source, safe="")
        else:
            text = (
                _decode_bytes(base64.b64decode(source, validate=True))
                if form.decode
                else base64.b64encode(source.encode()).decode()
            )
    except (ValueError, binascii.Error) as error:
        context.encode.components.source.set_message(f"Not valid {form.codec}: {error}", "error")
        output.value = ""
        return context
    context.encode.components.source.clear_message()
    output.value = text
    return context
