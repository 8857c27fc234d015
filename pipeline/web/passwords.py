"""Web login passwords: argon2id hashes (argon2-cffi, the binding of the reference
implementation; argon2id is the algorithm OWASP recommends for passwords).

Only the hash is stored (the catalogue's ``web_users.password_hash``, in argon2's PHC
string form ``$argon2id$v=19$m=…,t=…,p=…$salt$hash``, which carries its own salt and
parameters). The library's default parameters are used; :func:`needs_rehash` tells when a
stored hash was made with other ones, so a login can be re-hashed at its next sign-in.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: the shortest password a web login may have, in characters
MIN_PASSWORD_LENGTH = 10

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (a new random salt each time)."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` is the one ``stored_hash`` was made from; False for a wrong
    password and for anything that is not an argon2 hash."""
    if not isinstance(stored_hash, str) or not isinstance(password, str):
        return False
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when ``stored_hash`` was made with other parameters than today's defaults (or
    is no argon2 hash at all): hash the password again after its next good sign-in."""
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except (InvalidHashError, TypeError):
        return True


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be used (in Chinese, for the person choosing it), or None."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        return f"密码至少 {MIN_PASSWORD_LENGTH} 个字符"
    return None
