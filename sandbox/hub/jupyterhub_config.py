"""The sandbox hub: a real JupyterHub with OAuthenticator: GenericOAuthenticator against
oidc-provider or LemonLDAP::NG, or AzureAdOAuthenticator / GitHubOAuthenticator / CILogonOAuthenticator against the
provider stand-ins (sandbox/standins), chosen by $SANDBOX_PROVIDER.

Started by sandbox/__init__.py with its settings in the environment. The fault switches that live on
the hub's side are read from a JSON file on every request, so they flip while the hub runs.
"""

import inspect
import json
import os
from pathlib import Path

from jupyterhub.handlers.base import BaseHandler
from oauthenticator.azuread import AzureAdOAuthenticator
from oauthenticator.cilogon import CILogonOAuthenticator
from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.github import GitHubOAuthenticator
from tornado import web

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (injected by JupyterHub)

FAULTS_FILE = Path(os.environ["SANDBOX_HUB_FAULTS"])
IDP = os.environ["SANDBOX_IDP_URL"]
PUBLIC = os.environ["SANDBOX_HUB_URL"]
# The hub's other ways in (sandbox/route.py): a login that came through one goes back through it.
OTHER_URLS = [u for u in os.environ.get("SANDBOX_HUB_OTHER_URLS", "").split(",") if u]
TENANT = os.environ.get("SANDBOX_TENANT", "sandbox-tenant")


def fault(name: str) -> object:
    try:
        return json.loads(FAULTS_FILE.read_text()).get(name)
    except FileNotFoundError:
        return None


PROVIDER = os.environ.get("SANDBOX_PROVIDER", "oidc")
BASES = {
    "oidc": GenericOAuthenticator,
    "lemonldap": GenericOAuthenticator,
    "azuread": AzureAdOAuthenticator,
    "github": GitHubOAuthenticator,
    "cilogon": CILogonOAuthenticator,
}
Base = BASES[PROVIDER]


def hostile_page(name: str) -> tuple[str, dict[str, str]]:
    """A page of the hostile-page corpus (sandbox/hostile.py) and the headers it is served with."""
    corpus = json.loads(Path(os.environ["SANDBOX_HOSTILE_FILE"]).read_text())
    return corpus["pages"][name], corpus["headers"]


class SandboxLoginHandler(Base.login_handler):  # type: ignore[name-defined,misc]
    """/hub/oauth_login: where the hub sends the browser on to the IdP."""

    def get(self) -> object:
        if fault("hostile") == "hub":
            page, headers = hostile_page("hub")
            self.set_status(500)
            for name, value in headers.items():
                self.set_header(name, value)
            return self.finish(page)
        if fault("login_500"):
            # What a broken hub deployment looks like from outside: a 500 before the IdP.
            raise web.HTTPError(500, "sandbox fault: login_500")
        return super().get()

    def set_state_cookie(self, state_cookie_value: str) -> None:
        if fault("state_cookie_lost"):
            # What a proxy that drops cookies (or replicas without a shared cookie secret) does:
            # the callback finds no state cookie and OAuthenticator answers "OAuth state mismatch".
            return
        super().set_state_cookie(state_cookie_value)


class SandboxAuthenticator(Base):  # type: ignore[misc,valid-type]
    login_handler = SandboxLoginHandler

    def build_access_tokens_request_params(self, handler: BaseHandler, data: object = None) -> dict:
        params = super().build_access_tokens_request_params(handler, data)
        if fault("stale_secret"):
            # A redeploy put an old secret back: the hub sends one the IdP no longer accepts.
            params["client_secret"] = "stale-secret-from-an-old-deployment"
        return params

    def get_callback_url(self, handler: BaseHandler | None = None) -> str:
        if handler is not None:
            came = f"{handler.request.protocol}://{handler.request.host}"
            if came in OTHER_URLS:
                return f"{came}/hub/oauth_callback"
        return str(super().get_callback_url(handler))

    async def check_blocked_users(self, username: str, auth_model: dict) -> bool:
        # With allow_all, JupyterHub never asks check_allowed; a block list is what refuses a user.
        if fault("user_forbidden"):
            return False
        allowed = super().check_blocked_users(username, auth_model)
        return bool(await allowed if inspect.isawaitable(allowed) else allowed)


c.JupyterHub.authenticator_class = SandboxAuthenticator
auth = c.SandboxAuthenticator
auth.client_id = os.environ["SANDBOX_CLIENT_ID"]
auth.client_secret = os.environ["SANDBOX_CLIENT_SECRET"]
auth.oauth_callback_url = f"{PUBLIC}/hub/oauth_callback"
auth.allow_all = True
auth.http_request_kwargs = {"request_timeout": 30}
if PROVIDER == "oidc":
    auth.authorize_url = f"{IDP}/auth"
    auth.token_url = f"{IDP}/token"
    auth.userdata_url = f"{IDP}/me"
    auth.scope = ["openid", "profile", "email"]
    auth.username_claim = "preferred_username"
    auth.login_service = "Sandbox IdP"
elif PROVIDER == "lemonldap":
    # LemonLDAP::NG's OpenID Connect issuer answers under /oauth2/.
    auth.authorize_url = f"{IDP}/oauth2/authorize"
    auth.token_url = f"{IDP}/oauth2/token"
    auth.userdata_url = f"{IDP}/oauth2/userinfo"
    auth.scope = ["openid", "profile", "email"]
    auth.username_claim = "preferred_username"
    auth.login_service = "LemonLDAP::NG"
elif PROVIDER == "azuread":
    # Entra ID's v2.0 endpoints under the tenant, as a real hub configures them.
    auth.tenant_id = TENANT
    auth.authorize_url = f"{IDP}/{TENANT}/oauth2/v2.0/authorize"
    auth.token_url = f"{IDP}/{TENANT}/oauth2/v2.0/token"
    auth.scope = ["openid", "profile", "email"]
    auth.username_claim = "preferred_username"
elif PROVIDER == "github":
    # GitHub Enterprise style: every URL derives from github_url, the API under /api/v3.
    auth.github_url = IDP
elif PROVIDER == "cilogon":
    auth.authorize_url = f"{IDP}/authorize"
    auth.token_url = f"{IDP}/oauth2/token"
    auth.userdata_url = f"{IDP}/oauth2/userinfo"
    auth.scope = ["openid", "email", "org.cilogon.userinfo"]
    auth.allowed_idps = {
        "https://idp.example.edu/idp/shibboleth": {
            "username_derivation": {
                "username_claim": "email",
                "action": "strip_idp_domain",
                "domain": "example.edu",
            },
            "allow_all": True,
        }
    }

# The proxy is started by the sandbox (so "hub down" can stop it without restarting the hub) and
# sends everything it has no route for to the hub.
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = os.environ["SANDBOX_PROXY_API_URL"]
c.ConfigurableHTTPProxy.auth_token = os.environ["SANDBOX_PROXY_TOKEN"]
c.JupyterHub.bind_url = PUBLIC
c.JupyterHub.hub_bind_url = os.environ["SANDBOX_HUB_API_URL"]

# Land on /hub/home after login: a logged-in page without spawning a notebook server.
c.JupyterHub.redirect_to_server = False
c.JupyterHub.default_url = "/hub/home"

state = Path(os.environ["SANDBOX_HUB_STATE"])
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.log_level = os.environ.get("SANDBOX_HUB_LOG_LEVEL", "WARN")
