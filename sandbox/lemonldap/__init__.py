"""LemonLDAP::NG as the sandbox's second real IdP: Debian's portal with its OpenID Connect provider.

Not written by us: the portal, its Bootstrap pages (Font Awesome glyphs in every button, texts
translated by script after load), its authorization, token and userinfo endpoints are
LemonLDAP::NG's own (Debian's `liblemonldap-ng-portal-perl`). What we write is its configuration,
in a private directory, as the LemonLDAP::NG manager would write it:

- `lemonldap-ng.ini` (named by $LLNG_DEFAULTCONFFILE) pointing at a file configuration backend;
- `conf/lmConf-N.json`: the portal on loopback, DBI authentication against an SQLite file, the
  OpenID Connect issuer with one relying party (the hub), file session storage; each change is a
  new configuration number, as the manager saves one;
- `users.sqlite`: the test account, so its password can be changed at the IdP;
- an RSA key pair the issuer signs ID tokens with.

The portal runs under `plackup` (Plack, from Debian) on a free loopback port, no web server and
nothing system-wide; `portal.psgi` beside this file serves the static files its nginx site would.
LemonLDAP::NG has no expiry date for a client secret (2.16), so `secret_expired` is not a fault it
can show.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PSGI = HERE / "portal.psgi"
PORTAL_PERL = Path("/usr/share/perl5/Lemonldap/NG/Portal/Main.pm")
TEMPLATES = Path("/usr/share/lemonldap-ng/portal/templates")
# The faults LemonLDAP::NG can show for real (see the module docstring for secret_expired).
FAULTS = frozenset({"secret_wrong", "password_wrong", "idp_down"})


def installed() -> bool:
    return PORTAL_PERL.is_file() and Path("/usr/bin/plackup").is_file()


class LemonLDAP:
    """The configuration of one LemonLDAP::NG portal, and the changes faults make to it."""

    def __init__(
        self,
        workdir: Path,
        port: int,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        username: str,
        password: str,
    ) -> None:
        self.dir = workdir
        self.port = port
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.username = username
        self.password = password
        self.cfg_num = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ini(self) -> Path:
        return self.dir / "lemonldap-ng.ini"

    @property
    def users_db(self) -> Path:
        return self.dir / "users.sqlite"

    def argv(self) -> list[str]:
        # HTTP::Server::PSGI: Plack's own single-process server; one browser at a time is all a
        # probe is, and it needs nothing beyond Plack.
        return [
            "/usr/bin/plackup",
            "-s",
            "HTTP::Server::PSGI",
            "-E",
            "deployment",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            str(PSGI),
        ]

    def env(self) -> dict[str, str]:
        return {"LLNG_DEFAULTCONFFILE": str(self.ini)}

    def write(self) -> None:
        """Everything the portal reads, in the private directory."""
        for sub in ("conf", "sessions/lock", "psessions/lock", "cache"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self._write_key()
        self.ini.write_text(self._ini())
        with sqlite3.connect(self.users_db) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS users "
                "(user TEXT PRIMARY KEY, password TEXT, name TEXT, mail TEXT)"
            )
            db.execute(
                "INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?)",
                (self.username, self.password, "Test Student", f"{self.username}@example.org"),
            )
        self.save_conf()

    def set_password(self, password: str) -> None:
        """The test account's password as the IdP holds it (changed by an admin, say)."""
        with sqlite3.connect(self.users_db) as db:
            db.execute("UPDATE users SET password = ? WHERE user = ?", (password, self.username))

    def forget_consents(self) -> None:
        """Drop the test account's remembered consents (LemonLDAP keeps them in its persistent
        sessions), so the next login shows the consent page as a first login does."""
        for path in (self.dir / "psessions").iterdir():
            if path.is_file() and path.name != "lock":
                path.unlink()

    def save_conf(self) -> None:
        """The configuration as it now is, under a new number, as the manager saves a change; the
        portal picks it up within its checkTime."""
        self.cfg_num += 1
        conf = self._conf()
        path = self.dir / "conf" / f"lmConf-{self.cfg_num}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(conf, indent=1))
        tmp.replace(path)

    def _write_key(self) -> None:
        key = self.dir / "oidc.key"
        if key.exists():
            return
        subprocess.run(
            ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            stdout=key.open("wb"),
            stderr=subprocess.DEVNULL,
            check=True,
        )
        public = subprocess.run(
            ["openssl", "pkey", "-pubout", "-in", str(key)], capture_output=True, check=True
        ).stdout
        (self.dir / "oidc.pub").write_bytes(public)

    def _ini(self) -> str:
        d = self.dir
        return f"""; Written by the sandbox (sandbox/lemonldap). LemonLDAP::NG's own format.
[all]
logLevel = notice
; Reread the configuration's number every second: a saved change applies at once.
checkTime = 1

[configuration]
type = File
dirName = {d / "conf"}
localStorage = Cache::FileCache
localStorageOptions = {{ 'namespace' => 'lemonldap-ng-config', 'default_expires_in' => 600, \
'cache_root' => '{d / "cache"}', 'cache_depth' => 3 }}

[portal]
staticPrefix = /static
templateDir = {TEMPLATES}
languages = en

[handler]
status = 0
useRedirectOnError = 1
"""

    def _conf(self) -> dict[str, Any]:
        d = self.dir
        url = self.url
        return {
            "cfgNum": self.cfg_num,
            "cfgAuthor": "loginprobe sandbox",
            "cfgDate": str(int(time.time())),
            "cfgVersion": "2.16.1",
            "portal": f"{url}/",
            "domain": "127.0.0.1",
            "cookieName": "lemonldap",
            "securedCookie": 0,
            "portalSkin": "bootstrap",
            "portalDisplayResetPassword": 0,
            "authentication": "DBI",
            "userDB": "Same",
            "passwordDB": "Null",
            "registerDB": "Null",
            "dbiAuthChain": f"dbi:SQLite:dbname={self.users_db}",
            "dbiAuthUser": "",
            "dbiAuthPassword": "",
            "dbiAuthTable": "users",
            "dbiUserTable": "users",
            "dbiAuthLoginCol": "user",
            "dbiAuthPasswordCol": "password",
            "dbiAuthPasswordHash": "",
            "dbiExportedVars": {"cn": "name", "mail": "mail", "uid": "user"},
            "exportedVars": {},
            "whatToTrace": "uid",
            "macros": {},
            "groups": {},
            "globalStorage": "Apache::Session::File",
            "globalStorageOptions": {
                "Directory": str(d / "sessions"),
                "LockDirectory": str(d / "sessions" / "lock"),
                "generateModule": "Lemonldap::NG::Common::Apache::Session::Generate::SHA256",
            },
            "persistentStorage": "Apache::Session::File",
            "persistentStorageOptions": {
                "Directory": str(d / "psessions"),
                "LockDirectory": str(d / "psessions" / "lock"),
            },
            "localSessionStorage": "Cache::FileCache",
            "localSessionStorageOptions": {
                "namespace": "lemonldap-ng-sessions",
                "default_expires_in": 600,
                "cache_root": str(d / "cache"),
                "cache_depth": 3,
            },
            "locationRules": {"127.0.0.1": {"default": "accept"}},
            "exportedHeaders": {},
            "notification": 0,
            "loginHistoryEnabled": 0,
            "issuerDBOpenIDConnectActivation": 1,
            "issuerDBOpenIDConnectPath": "^/oauth2/",
            "issuerDBOpenIDConnectRule": 1,
            "oidcServiceMetaDataIssuer": url,
            "oidcServiceKeyIdSig": "sandbox",
            "oidcServicePrivateKeySig": (d / "oidc.key").read_text(),
            "oidcServicePublicKeySig": (d / "oidc.pub").read_text(),
            "oidcServiceAllowAuthorizationCodeFlow": 1,
            "oidcRPMetaDataOptions": {
                "hub": {
                    "oidcRPMetaDataOptionsClientID": self.client_id,
                    "oidcRPMetaDataOptionsClientSecret": self.client_secret,
                    "oidcRPMetaDataOptionsRedirectUris": self.redirect_uri,
                    "oidcRPMetaDataOptionsDisplayName": "JupyterHub",
                    "oidcRPMetaDataOptionsBypassConsent": 0,
                    "oidcRPMetaDataOptionsIDTokenSignAlg": "RS256",
                    "oidcRPMetaDataOptionsUserIDAttr": "uid",
                }
            },
            "oidcRPMetaDataExportedVars": {
                "hub": {"email": "mail", "name": "cn", "preferred_username": "uid"}
            },
            "oidcRPMetaDataOptionsExtraClaims": {},
        }


def new_secret() -> str:
    return "cs-" + secrets.token_urlsafe(24)
