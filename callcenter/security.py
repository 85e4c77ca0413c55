"""Password hashing (scrypt), random tokens and signed pre-login CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

# scrypt cost: n=2**14, r=8, p=1 -> 16 MiB and ~50 ms a hash (OWASP's minimum is n=2**17 with
# r=8 *or* an equivalent; we store the parameters with each hash so they can be raised later).
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, *, n: int = _N) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, maxmem=64 * 2**20,
                            dklen=32)
    return f"scrypt${n}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest_b64)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=int(n),
                             r=int(r), p=int(p), maxmem=64 * 2**20, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# A fixed hash to verify against when the user name is unknown, so both paths cost the same.
DUMMY_HASH = hash_password("anxin-dummy-password")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def sign_csrf(secret_key: str, nonce: str, now: float | None = None) -> str:
    """A pre-login CSRF token bound to a cookie nonce: '<issued>.<hmac>'."""
    issued = int(now if now is not None else time.time())
    mac = hmac.new(secret_key.encode(), f"{nonce}.{issued}".encode(), hashlib.sha256).hexdigest()
    return f"{issued}.{mac}"


def check_csrf(secret_key: str, nonce: str, token: str, max_age_s: int = 7200,
               now: float | None = None) -> bool:
    try:
        issued_s, mac = token.split(".", 1)
        issued = int(issued_s)
    except (ValueError, AttributeError):
        return False
    current = now if now is not None else time.time()
    if not 0 <= current - issued <= max_age_s:
        return False
    expected = hmac.new(secret_key.encode(), f"{nonce}.{issued}".encode(),
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, expected)
