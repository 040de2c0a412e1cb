"""STAND-INS for identity providers the sandbox cannot reach: Microsoft Entra ID (Azure AD), GitHub
and CILogon. Not their code: local servers that serve their pages by their public DOM and answer
their OAuth endpoints as they document, complete enough that a real OAuthenticator hub logs in
through them. Run one with `python -m sandbox.standins PROVIDER` (settings in the environment).
"""

PROVIDERS = ("azuread", "github", "cilogon")
