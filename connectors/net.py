"""What the mail connectors share: the security modes, and words for a failed connection."""

from __future__ import annotations

import ssl

SECURITIES = ("tls", "starttls", "none")


def one_line(value: object) -> str:
    """A server's or library's message squeezed onto one line, for use inside a sentence."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = " ".join(text.split()).rstrip(".")
    # some libraries word an error as the repr of the server's bytes: b'[AUTHENTICATIONFAILED]'
    if len(text) > 3 and text[:2] in ("b'", 'b"') and text[-1] == text[1]:
        text = text[2:-1].rstrip(".")
    return text


def connection_reason(exc: BaseException, timeout: float) -> str | None:
    """Why a connection failed, in a few words; None when it is not a network or TLS failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate could not be verified ({one_line(exc.verify_message)})"
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake failed ({one_line(exc.reason or exc)})"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "the server closed the connection"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return None


def fallback_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return one_line(exc) or type(exc).__name__
