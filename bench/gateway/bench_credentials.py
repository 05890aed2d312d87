"""The gateway benchmark's credentials: a certificate for its TLS listeners and
an ES256 JSON Web Token for its authenticated route.

Everything is made with the `openssl` command (no Python crypto package is
needed) in a folder of the caller's, for one run:

* a CA (ECDSA P-256, self-signed) and a server certificate it signs for
  `localhost` and 127.0.0.1, with its unencrypted key: the gateway's
  `tls_listener` and nginx's `listen ... ssl` present the same one;
* an issuer key (ECDSA P-256), its JWKS (one key, `"alg": "ES256"`), and a
  compact JWS signed with it: `openssl dgst -sha256 -sign` writes the
  signature as DER (ECDSA-Sig-Value), which JWS wants as the 64 bytes R || S.

Usage:

    tls = make_certificates(folder)           # tls.ca, tls.certificate, tls.key
    issuer = make_issuer(folder)              # issuer.jwks, issuer.key
    token = issuer.token({"iss": ISSUER, "aud": "bench", "sub": "client", "exp": ...})
"""

from __future__ import annotations

import base64
import json
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The DER prefix of a P-256 public key's SubjectPublicKeyInfo (id-ecPublicKey,
# prime256v1, then a BIT STRING of 66 bytes: 0 unused bits, 0x04, X, Y).
P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
P256_BYTES = 32


class CredentialError(Exception):
    """openssl failed, or wrote something other than what was asked for."""


def openssl(*args: str, data: bytes | None = None) -> bytes:
    """Runs `openssl args...` with `data` on stdin: its stdout."""
    out = subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)
    if out.returncode != 0:
        detail = out.stderr.decode(errors="replace").strip()[-1000:]
        raise CredentialError(f"openssl {args[0]} failed (status {out.returncode}): {detail}")
    return out.stdout


# --- TLS ------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """A server certificate, its key and the CA that signed it (PEM files)."""

    ca: Path
    certificate: Path  # the chain: the server certificate only (the CA signs it)
    key: Path


def make_certificates(folder: Path, days: int = 2) -> TlsFiles:
    """A CA and a server certificate for localhost and 127.0.0.1 that it signs,
    valid from now for `days`, as PEM files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, csr = folder / "server.pem", folder / "server.key", folder / "server.csr"
    ext = folder / "server.ext"
    p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *p256, "-keyout", str(ca_key), "-out", str(ca), "-days", str(days),
            "-subj", "/CN=polymesh bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")  # fmt: skip
    openssl("req", "-new", *p256, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(cert), "-days", str(days), "-sha256",
            "-extfile", str(ext))  # fmt: skip
    return TlsFiles(ca=ca, certificate=cert, key=key)


# --- JWT ------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515, section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def der_length(der: bytes, at: int) -> tuple[int, int]:
    """The DER length at `der[at]`: (length, offset of the contents)."""
    first = der[at]
    if first < 0x80:
        return first, at + 1
    count = first & 0x7F
    if count == 0 or count > 2 or at + 1 + count > len(der):
        raise CredentialError("bad DER length")
    return int.from_bytes(der[at + 1 : at + 1 + count], "big"), at + 1 + count


def ecdsa_der_to_raw(der: bytes, size: int = P256_BYTES) -> bytes:
    """An ECDSA-Sig-Value (SEQUENCE { INTEGER r, INTEGER s }) as JWS wants it:
    r and s big-endian, each left-padded to `size` bytes (RFC 7518, 3.4)."""
    if len(der) < 2 or der[0] != 0x30:
        raise CredentialError("the signature is not a DER SEQUENCE")
    length, at = der_length(der, 1)
    if at + length != len(der):
        raise CredentialError("the signature's SEQUENCE length does not match its size")
    out = b""
    for _ in range(2):
        if at >= len(der) or der[at] != 0x02:
            raise CredentialError("the signature lacks an INTEGER")
        length, at = der_length(der, at + 1)
        value = der[at : at + length]
        at += length
        if len(value) != length or not value or value[0] & 0x80:
            raise CredentialError("the signature holds a bad INTEGER")
        value = value.lstrip(b"\0")
        if len(value) > size:
            raise CredentialError(f"an INTEGER of the signature is longer than {size} bytes")
        out += value.rjust(size, b"\0")
    if at != len(der):
        raise CredentialError("bytes after the signature's INTEGERs")
    return out


def ecdsa_raw_to_der(raw: bytes) -> bytes:
    """The inverse of ecdsa_der_to_raw (for checks with `openssl dgst -verify`)."""
    half = len(raw) // 2
    body = b""
    for part in (raw[:half], raw[half:]):
        value = part.lstrip(b"\0") or b"\0"
        if value[0] & 0x80:
            value = b"\0" + value
        body += bytes([0x02, len(value)]) + value
    return bytes([0x30, len(body)]) + body


@dataclass(frozen=True)
class Issuer:
    """A P-256 signing key and the JWKS that publishes its public half."""

    key: Path  # PEM private key
    jwks: Path  # {"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256", ...}]}
    kid: str

    def token(self, claims: dict[str, Any]) -> str:
        """A compact JWS of `claims`, signed ES256 with this key."""
        header = {"alg": "ES256", "typ": "JWT", "kid": self.kid}
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        der = openssl("dgst", "-sha256", "-sign", str(self.key), data=signing_input.encode())
        return f"{signing_input}.{b64url(ecdsa_der_to_raw(der))}"


def make_issuer(folder: Path, kid: str = "bench") -> Issuer:
    """A new P-256 key in `folder` (issuer.key) and its JWKS (issuer-jwks.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "issuer.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", str(key))  # fmt: skip
    spki = openssl("pkey", "-in", str(key), "-pubout", "-outform", "DER")
    if len(spki) != len(P256_SPKI_PREFIX) + 1 + 2 * P256_BYTES or not spki.startswith(
        P256_SPKI_PREFIX + b"\x04"
    ):
        raise CredentialError("openssl wrote a public key that is not an uncompressed P-256 point")
    point = spki[len(P256_SPKI_PREFIX) + 1 :]
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "alg": "ES256",
        "use": "sig",
        "kid": kid,
        "x": b64url(point[:P256_BYTES]),
        "y": b64url(point[P256_BYTES:]),
    }
    jwks = folder / "issuer-jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n")
    return Issuer(key=key, jwks=jwks, kid=kid)


def jwk_public_pem(jwk: dict[str, str]) -> bytes:
    """The PEM public key of a P-256 JWK (for checks with openssl)."""

    def unb64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    spki = P256_SPKI_PREFIX + b"\x04" + unb64(jwk["x"]) + unb64(jwk["y"])
    body = textwrap.wrap(base64.b64encode(spki).decode("ascii"), 64)
    return "\n".join(["-----BEGIN PUBLIC KEY-----", *body, "-----END PUBLIC KEY-----", ""]).encode()
