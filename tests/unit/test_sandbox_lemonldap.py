"""The LemonLDAP::NG configuration the sandbox writes, and the faults it refuses (no portal run)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from sandbox import Sandbox, SandboxError
from sandbox.lemonldap import LemonLDAP


@pytest.fixture(scope="module")
def llng(tmp_path_factory: pytest.TempPathFactory) -> LemonLDAP:
    # One configuration for the module: making its RSA key is the slow part.
    written = LemonLDAP(
        tmp_path_factory.mktemp("llng"),
        4242,
        client_id="hub-client",
        client_secret="cs-secret",
        redirect_uri="http://127.0.0.1:9/hub/oauth_callback",
        username="student",
        password="pw-secret",
    )
    written.write()
    return written


def test_written_configuration_is_lemonldaps_own_file_backend_with_the_hub_as_rp(
    llng: LemonLDAP,
) -> None:
    tmp_path = llng.dir
    assert f"dirName = {tmp_path / 'conf'}" in llng.ini.read_text()
    assert llng.env() == {"LLNG_DEFAULTCONFFILE": str(llng.ini)}
    conf = json.loads((tmp_path / "conf" / "lmConf-1.json").read_text())
    assert conf["cfgNum"] == 1
    assert conf["portal"] == "http://127.0.0.1:4242/"
    rp = conf["oidcRPMetaDataOptions"]["hub"]
    assert rp["oidcRPMetaDataOptionsClientID"] == "hub-client"
    assert rp["oidcRPMetaDataOptionsClientSecret"] == "cs-secret"
    assert rp["oidcRPMetaDataOptionsRedirectUris"] == "http://127.0.0.1:9/hub/oauth_callback"
    assert "BEGIN PRIVATE KEY" in conf["oidcServicePrivateKeySig"]
    # Everything it stores lives in the private directory, nothing under /var/lib.
    assert str(tmp_path) in conf["globalStorageOptions"]["Directory"]
    assert "/var/lib" not in json.dumps(conf) + llng.ini.read_text()


def test_a_changed_secret_is_saved_as_a_new_configuration_number(llng: LemonLDAP) -> None:
    before = llng.cfg_num
    llng.client_secret = "cs-rotated"
    llng.save_conf()
    newest = json.loads((llng.dir / "conf" / f"lmConf-{before + 1}.json").read_text())
    assert newest["cfgNum"] == before + 1
    assert newest["oidcRPMetaDataOptions"]["hub"]["oidcRPMetaDataOptionsClientSecret"] == (
        "cs-rotated"
    )


def test_the_test_accounts_password_is_changed_in_its_user_table(llng: LemonLDAP) -> None:
    llng.set_password("pw-changed")
    with sqlite3.connect(llng.users_db) as db:
        assert db.execute("SELECT password FROM users WHERE user = 'student'").fetchall() == [
            ("pw-changed",)
        ]


@pytest.mark.parametrize("fault", ["secret_expired", "idp_slow", "consent_blocked"])
def test_sandbox_refuses_faults_lemonldap_cannot_show(fault: str) -> None:
    sb = Sandbox(provider="lemonldap")
    try:
        with pytest.raises(SandboxError, match="not one the real IdP"):
            sb.set_fault(fault)
    finally:
        sb.stop()
