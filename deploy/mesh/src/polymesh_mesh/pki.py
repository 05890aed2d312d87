"""The mesh's local certificate authority, made with the openssl command-line
tool: a CA, and the certificates the `pki` section of the mesh file names,
each signed by it.

    made = ensure(resolved.pki)          # {run}/tls: made or renewed as needed
    made = ensure(resolved.pki, folder)  # the same set somewhere else (compose)
    ensure_token(path)                   # a random bearer token, made once

In the folder (mode 0700): `ca.crt` and `ca.key`, then `<name>.crt` and
`<name>.key` for each certificate; keys are 0600, certificates 0644. Keys
are EC P-256. `ensure` makes what is missing, and makes again a certificate
that expires within `RENEW_BEFORE_S`, that its CA does not verify, or whose
names are not those of the mesh file; a new CA makes every certificate again.
Nothing is made twice: a second call with nothing to renew runs only checks.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

OPENSSL = "openssl"
RENEW_BEFORE_S = 24 * 3600
"""A certificate that expires within this many seconds is made again."""

USAGES = {"server": ("serverAuth", "sslserver"), "client": ("clientAuth", "sslclient")}
"""Each usage: its extendedKeyUsage and the purpose `openssl verify` checks."""


class PkiError(RuntimeError):
    """openssl failed, or the pki section is malformed."""


@dataclass(frozen=True)
class Certificate:
    """One certificate the CA signs: its file names, its use, its names."""

    name: str
    usage: str  # "server" or "client"
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    about: str = ""

    @property
    def sans(self) -> list[str]:
        """The subjectAltName entries, as openssl prints them."""
        return (
            [f"DNS:{d}" for d in self.dns]
            + [f"IP Address:{i}" for i in self.ips]
            + [f"URI:{u}" for u in self.uris]
        )


@dataclass(frozen=True)
class Pki:
    """The `pki` section of the mesh file, resolved: where the files go, the
    CA's name and lifetime, and the certificates."""

    folder: Path
    certificates: list[Certificate]
    ca_common_name: str = "polymesh local CA"
    ca_days: int = 365
    days: int = 90

    def certificate(self, name: str) -> Certificate:
        for c in self.certificates:
            if c.name == name:
                return c
        raise PkiError(f"pki: no certificate {name!r}")


@dataclass(frozen=True)
class Files:
    """The paths of one certificate and its key."""

    certificate: Path
    key: Path


@dataclass
class Made:
    """What `ensure` found: every file by name ("ca" and each certificate),
    and the names it made (or made again) this time."""

    folder: Path
    files: dict[str, Files]
    made: list[str] = field(default_factory=list)

    @property
    def ca(self) -> Path:
        return self.files["ca"].certificate


def files(folder: Path, name: str) -> Files:
    return Files(folder / f"{name}.crt", folder / f"{name}.key")


def openssl(*args: str | Path, input: bytes | None = None) -> str:
    """Runs the openssl command-line tool; its output, or PkiError with its
    error output."""
    argv = [OPENSSL, *(str(a) for a in args)]
    try:
        done = subprocess.run(argv, input=input, capture_output=True, check=False)
    except FileNotFoundError as e:
        raise PkiError("the openssl command-line tool is not installed (./dev setup)") from e
    if done.returncode != 0:
        raise PkiError(
            f"{' '.join(argv)} failed ({done.returncode}): "
            f"{done.stderr.decode(errors='replace').strip()}"
        )
    return done.stdout.decode(errors="replace")


def _ok(*args: str | Path) -> bool:
    try:
        openssl(*args)
    except PkiError:
        return False
    return True


@contextlib.contextmanager
def _config(text: str) -> Iterator[Path]:
    """An openssl configuration file for one command, removed after it."""
    with tempfile.NamedTemporaryFile("w", suffix=".cnf", delete=False) as f:
        f.write(text)
    try:
        yield Path(f.name)
    finally:
        Path(f.name).unlink(missing_ok=True)


def _write_key_first(key: Path) -> None:
    """Makes `key` an empty 0600 file before openssl writes into it, so the
    private key is never readable by others, even for a moment."""
    key.unlink(missing_ok=True)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def make_ca(folder: Path, common_name: str, days: int) -> Files:
    """A self-signed CA certificate and its key in `folder`."""
    out = files(folder, "ca")
    _write_key_first(out.key)
    with _config(
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n"
        f"[dn]\nCN = {common_name}\n"
        "[ext]\nbasicConstraints = critical, CA:TRUE, pathlen:0\n"
        "keyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n"
    ) as config:
        openssl(
            "req", "-x509", "-new", "-config", config,
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
            "-keyout", out.key, "-out", out.certificate,
            "-days", str(days), "-sha256",
        )  # fmt: skip
    out.certificate.chmod(0o644)
    return out


def issue(folder: Path, ca: Files, cert: Certificate, days: int) -> Files:
    """A certificate for `cert` signed by `ca`, and its new key, in `folder`."""
    if cert.usage not in USAGES:
        raise PkiError(f"pki: {cert.name}: usage {cert.usage!r}: want server or client")
    out = files(folder, cert.name)
    _write_key_first(out.key)
    sans = [f"DNS.{i} = {d}" for i, d in enumerate(cert.dns, 1)]
    sans += [f"IP.{i} = {a}" for i, a in enumerate(cert.ips, 1)]
    sans += [f"URI.{i} = {u}" for i, u in enumerate(cert.uris, 1)]
    if not sans:
        raise PkiError(f"pki: {cert.name}: no names (dns, ips or uris)")
    extended = USAGES[cert.usage][0]
    csr = folder / f"{cert.name}.csr"
    with _config(
        "[req]\ndistinguished_name = dn\nprompt = no\n"
        f"[dn]\nCN = polymesh {cert.name}\n"
        "[ext]\nbasicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        f"extendedKeyUsage = {extended}\nsubjectAltName = @sans\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
        "[sans]\n" + "\n".join(sans) + "\n"
    ) as config:
        try:
            openssl(
                "req", "-new", "-config", config,
                "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc",
                "-keyout", out.key, "-out", csr,
            )  # fmt: skip
            openssl(
                "x509", "-req", "-in", csr, "-CA", ca.certificate, "-CAkey", ca.key,
                "-set_serial", "0x" + secrets.token_hex(16), "-days", str(days), "-sha256",
                "-extfile", config, "-extensions", "ext", "-out", out.certificate,
            )  # fmt: skip
        finally:
            csr.unlink(missing_ok=True)
    out.certificate.chmod(0o644)
    return out


def subject_alt_names(certificate: Path) -> list[str]:
    """The subjectAltName entries of a certificate, as openssl prints them
    ("DNS:localhost", "IP Address:127.0.0.1", "URI:spiffe://...")."""
    text = openssl("x509", "-in", certificate, "-noout", "-ext", "subjectAltName")
    lines = [line.strip() for line in text.splitlines()[1:] if line.strip()]
    return [entry.strip() for line in lines for entry in line.split(",") if entry.strip()]


def verifies(ca: Path, certificate: Path, usage: str, at: float | None = None) -> bool:
    """Whether `ca` verifies `certificate` for `usage` ("server", "client"),
    now or at the time `at` (seconds since the epoch)."""
    args: list[str | Path] = ["verify", "-CAfile", ca, "-purpose", USAGES[usage][1]]
    if at is not None:
        args += ["-attime", str(int(at))]
    return _ok(*args, certificate)


def _ca_current(ca: Files) -> bool:
    return (
        ca.certificate.exists()
        and ca.key.exists()
        and _ok("x509", "-in", ca.certificate, "-noout", "-checkend", str(RENEW_BEFORE_S))
    )


def _current(ca: Files, out: Files, cert: Certificate) -> bool:
    if not (out.certificate.exists() and out.key.exists()):
        return False
    # Verified for its use a while from now: signed by this CA, not expiring.
    if not verifies(ca.certificate, out.certificate, cert.usage, time.time() + RENEW_BEFORE_S):
        return False
    try:
        return sorted(subject_alt_names(out.certificate)) == sorted(cert.sans)
    except PkiError:
        return False


def ensure(pki: Pki, folder: Path | None = None) -> Made:
    """The CA and every certificate of `pki` in `folder` (default: the pki's
    own), each made if missing, expiring, not the CA's or of other names."""
    folder = Path(pki.folder if folder is None else folder)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    made = Made(folder=folder, files={"ca": files(folder, "ca")})
    ca = made.files["ca"]
    if not _ca_current(ca):
        make_ca(folder, pki.ca_common_name, pki.ca_days)
        made.made.append("ca")
    for cert in pki.certificates:
        out = files(folder, cert.name)
        made.files[cert.name] = out
        if "ca" in made.made or not _current(ca, out, cert):
            issue(folder, ca, cert, pki.days)
            made.made.append(cert.name)
    return made


def ensure_token(path: Path) -> bool:
    """A random bearer token in `path` (one line, mode 0600), made if the
    file is missing or empty; True if it made one. An existing file is not
    read (it may belong to the user a container runs as)."""
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > 0:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_key_first(path)
    path.write_text(secrets.token_urlsafe(32) + "\n")
    return True


def section(node: object, sub: Callable[[str], str], where: str) -> Pki:
    """The `pki` section of a mesh file as a Pki, every string passed through
    `sub` (the mesh's placeholders); PkiError names what is malformed."""
    if not isinstance(node, dict):
        raise PkiError(f"{where}: want a mapping")
    unknown = set(node) - {"folder", "ca", "days", "certificates"}
    if unknown:
        raise PkiError(f"{where}: unknown keys {sorted(unknown)}")
    if "folder" not in node:
        raise PkiError(f"{where}: no folder")
    ca = node.get("ca") or {}
    if not isinstance(ca, dict) or set(ca) - {"common_name", "days"}:
        raise PkiError(f"{where}: ca: want a mapping of common_name and days")
    nodes = node.get("certificates")
    if not isinstance(nodes, list) or not nodes:
        raise PkiError(f"{where}: certificates: want a list of at least one")
    certificates = []
    for i, c in enumerate(nodes):
        at = f"{where}: certificates[{i}]"
        if not isinstance(c, dict) or "name" not in c:
            raise PkiError(f"{at}: want a mapping with a name")
        unknown = set(c) - {"name", "about", "usage", "dns", "ips", "uris"}
        if unknown:
            raise PkiError(f"{at}: unknown keys {sorted(unknown)}")
        if c.get("usage") not in USAGES:
            raise PkiError(f"{at}: usage: want server or client")
        if str(c["name"]) == "ca":
            raise PkiError(f"{at}: the name ca is the CA's")

        def strings(key: str, c: dict = c, at: str = at) -> tuple[str, ...]:
            values = c.get(key) or []
            if not isinstance(values, list):
                raise PkiError(f"{at}: {key}: want a list")
            return tuple(dict.fromkeys(sub(str(v)) for v in values))

        cert = Certificate(
            name=str(c["name"]),
            usage=str(c["usage"]),
            dns=strings("dns"),
            ips=strings("ips"),
            uris=strings("uris"),
            about=str(c.get("about", "")),
        )
        if not cert.sans:
            raise PkiError(f"{at}: no names: give dns, ips or uris")
        certificates.append(cert)
    names = [c.name for c in certificates]
    if len(set(names)) != len(names):
        raise PkiError(f"{where}: a certificate name appears twice: {names}")
    ca_days, days = int(ca.get("days", 365)), int(node.get("days", 90))
    if not 1 <= days <= ca_days:
        raise PkiError(f"{where}: days: want 1 to the CA's days ({ca_days}), got {days}")
    return Pki(
        folder=Path(sub(str(node["folder"]))),
        certificates=certificates,
        ca_common_name=sub(str(ca.get("common_name", "polymesh local CA"))),
        ca_days=ca_days,
        days=days,
    )
