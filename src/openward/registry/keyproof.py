"""The bytes a publisher key signs to prove it is held when it is registered.

Shared by the registry (which checks the proof) and the client (which makes it): the
client builds these bytes itself from the challenge and never signs a ``message`` a
server hands it, so a registry that is not what it claims (a typo-squatted URL, a
man in the middle on plain HTTP, a compromised server) cannot use ``registry key
add`` to have the user's key sign something else, such as the DSSE envelope of a
model signature. The fixed prefix keeps a proof from ever being taken for a DSSE
pre-authentication encoding (``DSSEv1 …``), the only other thing these keys sign.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["KEY_PROOF_CONTEXT", "check_challenge", "proof_message"]

KEY_PROOF_CONTEXT: Final = "openward-key-proof-v1"
_CHALLENGE: Final = re.compile(r"^[A-Za-z0-9_-]{1,2000}\.[A-Za-z0-9_-]{1,1000}$")
"""What a registry's challenge looks like: base64url payload, a dot, base64url seal."""


def check_challenge(challenge: object) -> str:
    """``challenge`` if it has the form a registry issues, else ValueError."""
    if not isinstance(challenge, str) or not _CHALLENGE.match(challenge):
        raise ValueError("the registry's challenge is not in the form a registry issues")
    return challenge


def proof_message(challenge: str) -> bytes:
    """The bytes a key signs to prove it is held: ``openward-key-proof-v1``, a newline,
    the challenge (UTF-8)."""
    return f"{KEY_PROOF_CONTEXT}\n{challenge}".encode()
