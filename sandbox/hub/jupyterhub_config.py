"""The sandbox hub: a real JupyterHub with OAuthenticator's GenericOAuthenticator.

Started by sandbox/__init__.py with its settings in the environment. The fault switches that live on
the hub's side are read from a JSON file on every request, so they flip while the hub runs.
"""

import inspect
import json
import os
from pathlib import Path

from jupyterhub.handlers.base import BaseHandler
from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.oauth2 import OAuthLoginHandler
from tornado import web

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (injected by JupyterHub)

FAULTS_FILE = Path(os.environ["SANDBOX_HUB_FAULTS"])
IDP = os.environ["SANDBOX_IDP_URL"]
PUBLIC = os.environ["SANDBOX_HUB_URL"]


def fault(name: str) -> object:
    try:
        return json.loads(FAULTS_FILE.read_text()).get(name)
    except FileNotFoundError:
        return None


class SandboxLoginHandler(OAuthLoginHandler):
    """/hub/oauth_login: where the hub sends the browser on to the IdP."""

    def get(self) -> object:  # type: ignore[override]
        if fault("login_500"):
            # What a broken hub deployment looks like from outside: a 500 before the IdP.
            raise web.HTTPError(500, "sandbox fault: login_500")
        return super().get()


class SandboxAuthenticator(GenericOAuthenticator):
    login_handler = SandboxLoginHandler

    def build_access_tokens_request_params(self, handler: BaseHandler, data: object = None) -> dict:
        params = super().build_access_tokens_request_params(handler, data)
        if fault("stale_secret"):
            # A redeploy put an old secret back: the hub sends one the IdP no longer accepts.
            params["client_secret"] = "stale-secret-from-an-old-deployment"
        return params

    async def check_blocked_users(self, username: str, auth_model: dict) -> bool:
        # With allow_all, JupyterHub never asks check_allowed; a block list is what refuses a user.
        if fault("user_forbidden"):
            return False
        allowed = super().check_blocked_users(username, auth_model)
        return bool(await allowed if inspect.isawaitable(allowed) else allowed)


c.JupyterHub.authenticator_class = SandboxAuthenticator
c.GenericOAuthenticator.client_id = os.environ["SANDBOX_CLIENT_ID"]
c.GenericOAuthenticator.client_secret = os.environ["SANDBOX_CLIENT_SECRET"]
c.GenericOAuthenticator.oauth_callback_url = f"{PUBLIC}/hub/oauth_callback"
c.GenericOAuthenticator.authorize_url = f"{IDP}/auth"
c.GenericOAuthenticator.token_url = f"{IDP}/token"
c.GenericOAuthenticator.userdata_url = f"{IDP}/me"
c.GenericOAuthenticator.scope = ["openid", "profile", "email"]
c.GenericOAuthenticator.username_claim = "preferred_username"
c.GenericOAuthenticator.login_service = "Sandbox IdP"
c.GenericOAuthenticator.allow_all = True
c.GenericOAuthenticator.http_request_kwargs = {"request_timeout": 30}

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
