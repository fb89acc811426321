"""JWTs as the Realtime server checks them, and tokens signed with a local secret.

The server (supabase/realtime, lib/realtime_web/channels/auth/{jwt_verification,
channels_authorization}.ex) reads the claims and the header, verifies the signature with the
project's JWT secret for HS256/384/512, validates `exp` (a number later than now) and `iat` (a
number) where present, then requires the claims `role` and `exp`. The same check runs when the
WebSocket connects (the `apikey` token: a refusal is an HTTP 401 before the upgrade) and when a
channel joins (the join's `access_token`: a refusal is the join's error reply). Each refusal
below carries both of the server's texts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

HS_ALGORITHMS = ["HS256", "HS384", "HS512"]
REQUIRED_CLAIMS = ("role", "exp")


@dataclass(frozen=True)
class TokenRefused(Exception):
    """Why the server refuses a token: `connect_error`, the JSON error of the HTTP 401 at
    connect (user_socket.ex error_response); `join_reason`, the join's error reply
    ("<code>: <message>", as RealtimeChannel.Logging.log_error builds it); `shutdown_message`,
    the system message that closes a joined channel when a new or re-checked token fails."""

    connect_error: str
    join_reason: str
    shutdown_message: str

    def __str__(self) -> str:
        return self.join_reason


MALFORMED = TokenRefused("The token provided is not a valid JWT", "MalformedJWT: The token provided is not a valid JWT",
                         "The token provided is not a valid JWT")
# The channel shuts down with the error's inspect() here (realtime_channel.ex, handle_in "access_token").
BAD_SIGNATURE = TokenRefused("Failed to validate JWT signature", "JwtSignatureError: Failed to validate JWT signature",
                             ":signature_error")
MISSING_CLAIMS = TokenRefused("Fields `role` and `exp` are required in JWT",
                              "InvalidJWTToken: Fields `role` and `exp` are required in JWT",
                              "Fields `role` and `exp` are required in JWT")


def expired(seconds_ago: int) -> TokenRefused:
    message = f"Token has expired {seconds_ago} seconds ago"
    return TokenRefused("Token has expired", f"InvalidJWTToken: {message}", message)


def verify(token: Any, secret: str, *, now: float | None = None) -> dict[str, Any]:
    """The token's claims if the server would accept it, else TokenRefused."""
    if not isinstance(token, str):
        raise MALFORMED
    # The server strips white space from the (URL-decoded) token first (clean_token).
    token = "".join(token.split())
    try:
        header = jwt.get_unverified_header(token)
        jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as malformed:
        raise MALFORMED from malformed
    if header.get("alg") not in HS_ALGORITHMS:
        # No JWKS in this model: only the shared secret's algorithms have a signer.
        raise BAD_SIGNATURE
    try:
        claims = jwt.decode(token, secret, algorithms=HS_ALGORITHMS,
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                     "verify_aud": False, "verify_iss": False})
    except jwt.InvalidSignatureError as forged:
        raise BAD_SIGNATURE from forged
    except jwt.PyJWTError as malformed:
        raise MALFORMED from malformed
    current = int(now if now is not None else time.time())
    if "exp" in claims:
        if not isinstance(claims["exp"], (int, float)) or claims["exp"] <= current:
            raise expired(current - int(claims["exp"]) if isinstance(claims["exp"], (int, float)) else 0)
        claims["exp"] = round(claims["exp"])
    if "iat" in claims and not isinstance(claims["iat"], (int, float)):
        raise MALFORMED
    if not all(claim in claims for claim in REQUIRED_CLAIMS):
        raise MISSING_CLAIMS
    return claims


def sign(secret: str, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def token_for(secret: str, role: str, user_id: str | None = None, *, lifetime_s: int = 3600) -> str:
    """A token shaped like Supabase Auth's for `role` (and user `user_id`), valid `lifetime_s`."""
    issued = int(time.time())
    claims: dict[str, Any] = {"role": role, "iat": issued, "exp": issued + lifetime_s}
    if user_id is not None:
        claims.update(sub=str(user_id), aud="authenticated")
    return sign(secret, claims)
