"""The gateway benchmark's credentials (bench/gateway/bench_credentials.py),
checked with the openssl command: the server certificate chains to its CA,
names localhost and 127.0.0.1 and matches its key; ECDSA signatures convert
between DER and JWS's R || S; a token verifies with the public key its JWKS
publishes, and a changed one does not.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_credentials() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_credentials", ROOT / "bench/gateway/bench_credentials.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_credentials"] = module
    spec.loader.exec_module(module)
    return module


credentials = load_credentials()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory):  # -> bench_credentials.TlsFiles
    return credentials.make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory):  # -> bench_credentials.Issuer
    return credentials.make_issuer(tmp_path_factory.mktemp("jwt"))


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def tampered(token: str) -> str:
    head, signature = token.rsplit(".", 1)
    i = len(signature) // 2
    return f"{head}.{signature[:i]}{'A' if signature[i] != 'A' else 'B'}{signature[i + 1 :]}"


def test_certificate_chains_to_its_ca(tls) -> None:
    out = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(tls.ca),
            "-purpose",
            "sslserver",
            str(tls.certificate),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    text = subprocess.run(
        ["openssl", "x509", "-in", str(tls.certificate), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    public = [
        subprocess.run(argv, capture_output=True, check=True).stdout
        for argv in (
            ["openssl", "x509", "-in", str(tls.certificate), "-noout", "-pubkey"],
            ["openssl", "pkey", "-in", str(tls.key), "-pubout"],
        )
    ]
    assert public[0] == public[1], "the key is not the certificate's"


def test_ecdsa_signatures_convert_between_der_and_raw() -> None:
    # r with its high bit set (DER adds a 0 byte), s shorter than 32 bytes.
    r, s = b"\x80" + b"\x01" * 31, b"\x7f" * 30
    der = bytes.fromhex("3043") + b"\x02\x21\x00" + r + b"\x02\x1e" + s
    raw = credentials.ecdsa_der_to_raw(der)
    assert raw == r + b"\x00\x00" + s
    assert credentials.ecdsa_raw_to_der(raw) == der
    for bad in (
        b"",
        b"\x31\x00",  # not a SEQUENCE
        der[:-1],  # cut short
        der + b"\x00",  # trailing byte
        bytes.fromhex("3006020180020101"),  # a negative INTEGER
        bytes.fromhex("30250221") + b"\x01" * 33 + bytes.fromhex("020101"),  # r too long
    ):
        with pytest.raises(credentials.CredentialError):
            credentials.ecdsa_der_to_raw(bad)


def test_token_verifies_with_its_jwks(issuer, tmp_path: Path) -> None:
    token = issuer.token({"sub": "client", "exp": int(time.time()) + 3600})
    header, payload, signature = token.split(".")
    assert json.loads(unb64(header)) == {"alg": "ES256", "typ": "JWT", "kid": issuer.kid}
    assert json.loads(unb64(payload))["sub"] == "client"
    raw = unb64(signature)
    assert len(raw) == 64
    assert "=" not in token and "+" not in token and "/" not in token
    (jwk,) = json.loads(issuer.jwks.read_text())["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["kid"]) == ("EC", "P-256", "ES256", "bench")
    public = tmp_path / "public.pem"
    public.write_bytes(credentials.jwk_public_pem(jwk))
    sig = tmp_path / "sig.der"

    def verifies(signed: str, raw_signature: bytes) -> bool:
        sig.write_bytes(credentials.ecdsa_raw_to_der(raw_signature))
        argv = ["openssl", "dgst", "-sha256", "-verify", str(public), "-signature", str(sig)]
        return subprocess.run(argv, input=signed.encode(), capture_output=True).returncode == 0

    assert verifies(f"{header}.{payload}", raw)
    assert not verifies(f"{header}.{payload}x", raw)
    assert not verifies(f"{header}.{payload}", unb64(tampered(token).rsplit(".", 1)[1]))
