"""One probe of one hub: a real browser login, the secret check, and what they mean."""
