"""The local certificate authority: real openssl runs, the chain verified by
`openssl verify`, the names read back from the certificates."""

from __future__ import annotations

import re
import stat
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from polymesh_mesh.model import ROOT, Folders, MeshError, load, parse
from polymesh_mesh.pki import (
    RENEW_BEFORE_S,
    Certificate,
    Pki,
    PkiError,
    ensure,
    ensure_token,
    files,
    issue,
    section,
    subject_alt_names,
    verifies,
)


def mesh_pki(tmp_path: Path) -> Pki:
    """The pki section of deploy/mesh.yaml, its folder in tmp_path."""
    folders = Folders.of_checkout(ROOT, run=tmp_path / "run", tools=tmp_path / "tools")
    pki = load().resolve(folders).pki
    assert pki is not None
    return pki


def openssl_verify(ca: Path, cert: Path, purpose: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), "-purpose", purpose, str(cert)],
        capture_output=True,
        text=True,
        check=False,
    )


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir())}


def test_the_mesh_file_names_the_gateway_aiapi_and_operator_certificates(tmp_path: Path) -> None:
    pki = mesh_pki(tmp_path)
    assert pki.folder == tmp_path / "run/tls"
    gateway = pki.certificate("gateway")
    assert gateway.usage == "server"
    assert set(gateway.dns) == {"localhost", "gateway"}
    assert gateway.ips == ("127.0.0.1",)
    assert pki.certificate("aiapi").uris == ("spiffe://polymesh.local/aiapi",)
    assert pki.certificate("aiapi").usage == "client"
    assert pki.certificate("operator").uris == ("spiffe://polymesh.local/operator",)


def test_ensure_makes_a_ca_and_certificates_that_it_verifies(tmp_path: Path) -> None:
    pki = mesh_pki(tmp_path)
    made = ensure(pki)
    assert made.made == ["ca", "gateway", "aiapi", "operator"]
    folder = pki.folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name, f in made.files.items():
        assert stat.S_IMODE(f.key.stat().st_mode) == 0o600, name
        assert stat.S_IMODE(f.certificate.stat().st_mode) == 0o644, name
    ca = made.ca
    for cert in pki.certificates:
        purpose = "sslserver" if cert.usage == "server" else "sslclient"
        checked = openssl_verify(ca, made.files[cert.name].certificate, purpose)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert sorted(subject_alt_names(made.files[cert.name].certificate)) == sorted(cert.sans)
    # A client certificate is no server's, and the other way round.
    assert openssl_verify(ca, made.files["aiapi"].certificate, "sslserver").returncode != 0
    assert openssl_verify(ca, made.files["gateway"].certificate, "sslclient").returncode != 0
    assert sorted(subject_alt_names(made.files["gateway"].certificate)) == [
        "DNS:gateway",
        "DNS:localhost",
        "IP Address:127.0.0.1",
    ]
    assert subject_alt_names(made.files["aiapi"].certificate) == [
        "URI:spiffe://polymesh.local/aiapi"
    ]


def test_ensure_twice_makes_nothing_new(tmp_path: Path) -> None:
    pki = mesh_pki(tmp_path)
    ensure(pki)
    before = mtimes(pki.folder)
    again = ensure(pki)
    assert again.made == []
    assert mtimes(pki.folder) == before


def test_a_missing_certificate_or_key_is_made_again_alone(tmp_path: Path) -> None:
    pki = mesh_pki(tmp_path)
    ensure(pki)
    files(pki.folder, "aiapi").certificate.unlink()
    files(pki.folder, "operator").key.unlink()
    again = ensure(pki)
    assert again.made == ["aiapi", "operator"]
    assert verifies(again.ca, again.files["aiapi"].certificate, "client")


def test_a_certificate_due_to_expire_is_renewed(tmp_path: Path) -> None:
    pki = mesh_pki(tmp_path)
    made = ensure(pki)
    # Valid for no time at all: expired within the renewal margin.
    issue(pki.folder, made.files["ca"], pki.certificate("gateway"), days=0)
    later = time.time() + RENEW_BEFORE_S
    assert not verifies(made.ca, made.files["gateway"].certificate, "server", at=later)
    again = ensure(pki)
    assert again.made == ["gateway"]
    checked = openssl_verify(again.ca, again.files["gateway"].certificate, "sslserver")
    assert checked.returncode == 0, checked.stderr


def test_other_names_make_the_certificate_again(tmp_path: Path) -> None:
    pki = mesh_pki(tmp_path)
    ensure(pki)
    gateway = pki.certificate("gateway")
    moved = replace(
        pki,
        certificates=[
            replace(c, dns=(*c.dns, "gateway.example")) if c is gateway else c
            for c in pki.certificates
        ],
    )
    again = ensure(moved)
    assert again.made == ["gateway"]
    assert "DNS:gateway.example" in subject_alt_names(again.files["gateway"].certificate)


def test_a_new_ca_makes_every_certificate_again(tmp_path: Path) -> None:
    pki = mesh_pki(tmp_path)
    first = ensure(pki)
    old_ca = first.ca.read_bytes()
    first.ca.unlink()
    again = ensure(pki)
    assert again.made == ["ca", "gateway", "aiapi", "operator"]
    assert again.ca.read_bytes() != old_ca


def test_a_certificate_of_another_ca_is_made_again(tmp_path: Path) -> None:
    pki = mesh_pki(tmp_path)
    ensure(pki)
    other = ensure(pki, tmp_path / "other")
    # The other CA's aiapi certificate, copied over this one's.
    files(pki.folder, "aiapi").certificate.write_bytes(
        other.files["aiapi"].certificate.read_bytes()
    )
    files(pki.folder, "aiapi").key.write_bytes(other.files["aiapi"].key.read_bytes())
    assert not verifies(
        files(pki.folder, "ca").certificate, files(pki.folder, "aiapi").certificate, "client"
    )
    assert ensure(pki).made == ["aiapi"]


def test_ensure_into_another_folder_makes_a_ca_of_its_own(tmp_path: Path) -> None:
    pki = mesh_pki(tmp_path)
    here = ensure(pki)
    there = ensure(pki, tmp_path / "compose/tls")
    assert there.folder == tmp_path / "compose/tls"
    assert there.ca.read_bytes() != here.ca.read_bytes()
    assert verifies(there.ca, there.files["gateway"].certificate, "server")
    assert not verifies(here.ca, there.files["gateway"].certificate, "server")


def test_ensure_token_makes_one_token_once(tmp_path: Path) -> None:
    path = tmp_path / "secrets/admin-token"
    assert ensure_token(path)
    token = path.read_text()
    assert len(token.strip()) >= 40 and token.endswith("\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not ensure_token(path)
    assert path.read_text() == token
    path.write_text("")
    assert ensure_token(path) and path.read_text().strip()


@pytest.mark.parametrize(
    ("pki", "message"),
    [
        ({"certificates": [{"name": "a", "usage": "client", "uris": ["x"]}]}, "no folder"),
        ({"folder": "f", "certificates": []}, "at least one"),
        ({"folder": "f", "colour": 1, "certificates": []}, "unknown keys ['colour']"),
        ({"folder": "f", "certificates": [{"name": "a", "usage": "both"}]}, "usage"),
        ({"folder": "f", "certificates": [{"name": "a", "usage": "client"}]}, "no names"),
        (
            {"folder": "f", "certificates": [{"name": "ca", "usage": "client", "dns": ["x"]}]},
            "the CA's",
        ),
        (
            {
                "folder": "f",
                "certificates": [
                    {"name": "a", "usage": "client", "dns": ["x"]},
                    {"name": "a", "usage": "server", "dns": ["y"]},
                ],
            },
            "appears twice",
        ),
        (
            {
                "folder": "f",
                "days": 400,
                "certificates": [{"name": "a", "usage": "client", "dns": ["x"]}],
            },
            "days",
        ),
    ],
)
def test_a_malformed_pki_section_is_refused(pki: dict, message: str) -> None:
    with pytest.raises(PkiError, match=re.escape(message)):
        section(pki, str, "mesh.yaml: pki")


def test_the_mesh_file_checks_its_pki_section() -> None:
    text = load().path.read_text().replace("usage: client", "usage: both", 1)
    with pytest.raises(MeshError, match="usage"):
        parse(text)


def test_issue_refuses_a_certificate_without_names(tmp_path: Path) -> None:
    pki = mesh_pki(tmp_path)
    made = ensure(pki)
    with pytest.raises(PkiError, match="no names"):
        issue(pki.folder, made.files["ca"], Certificate(name="x", usage="client"), days=1)
