"""Mosquitto-compatible password hashes (the `$7$` PBKDF2-SHA512 format of mosquitto_passwd)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

# mosquitto_passwd's default for $7$ is 101, which lets a stolen password file be guessed at millions of
# tries a second per core. 20,000 makes each guess 200 times dearer and costs the broker about 15 ms per
# login (it reads the count from each hash, so older hashes keep working).
ITERATIONS = 20_000
SALT_BYTES = 12


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """`$7$<iterations>$<salt b64>$<hash b64>` as Mosquitto 2 reads it from a password file."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    salt = base64.b64decode(parts[3])
    return hmac.compare_digest(hash_password(password, salt=salt, iterations=int(parts[2])), hashed)


def new_password() -> str:
    return secrets.token_urlsafe(18)


def new_smpp_password() -> str:
    """Eight random letters and digits: all an SMPP 3.4 password holds (the server slows down guessing)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))
