"""Button and field names as people read them (probes/_names.py): pure, no browser."""

from __future__ import annotations

import pytest

from loginprobe.prober.registry import flow_module

# The built-in flows' package, loginprobe.probes, exists once the registry has loaded a flow.
flow_module("generic_oidc")

from loginprobe.probes._names import (  # noqa: E402
    CONSENT,
    DECLINE,
    SUBMIT,
    Control,
    accessible_name,
    explain,
    field_role,
    normalise,
    pick,
    says,
)


@pytest.mark.parametrize(
    ("shown", "read"),
    [
        ("\uf058 Accept", "accept"),  # Font Awesome's check-circle, drawn by ::before
        ("\uf090  Connect", "connect"),  # fa-sign-in, as LemonLDAP::NG's login button
        ("\ue900\tSign In", "sign in"),  # PatternFly / an icon font of one's own
        ("\U000f0342 Continue", "continue"),  # a supplementary private-use glyph
        ("✔ Allow", "allow"),  # a dingbat (So)
        ("👉 Next", "next"),  # an emoji
        ("Sign in →", "sign in"),  # an arrow (Sm)
        ("Continue »", "continue"),
        ("  LOG\u00a0IN  ", "log in"),  # a no-break space, shouted
        ("Con\u00adtinue", "continue"),  # a soft hyphen (Cf)
        ("\uff33\uff49\uff47\uff4e \uff49\uff4e", "sign in"),  # full-width letters (NFKC)
        ("", ""),
        (None, ""),
        ("\uf00c", ""),  # an icon and nothing else
    ],
)
def test_normalise_reads_what_a_person_reads(shown: str | None, read: str) -> None:
    assert normalise(shown) == read


def test_normalise_keeps_letters_of_other_scripts_and_case_folds_them() -> None:
    assert normalise("\uf023 Anmelden STRASSE") == "anmelden strasse"
    assert normalise("Connexion ÉTAPE") == "connexion étape"


def test_accessible_name_prefers_aria_over_text_and_skips_icon_only_candidates() -> None:
    assert accessible_name(aria_label="Sign in", text="\uf090") == "Sign in"
    # An aria-label that is only an icon names nothing: the visible text does.
    assert accessible_name(aria_label="\uf090", text="Log in") == "Log in"
    assert accessible_name(labelled_by="Continue", aria_label="x") == "Continue"
    # An <input type=submit value>: the value; a glyph-only button with a title: the title.
    assert accessible_name(value="Sign In") == "Sign In"
    assert accessible_name(text="\uf061", title="Next") == "Next"
    assert accessible_name() == ""


@pytest.mark.parametrize(
    ("name", "phrases", "said"),
    [
        ("continue", CONSENT, "continue"),
        ("continue to sign in", SUBMIT, "continue"),
        ("continued", SUBMIT, None),  # whole words only
        ("sign in", SUBMIT, "sign in"),
        ("signing in", SUBMIT, None),
        ("login help", SUBMIT, "login"),
        ("no thanks", DECLINE, "no"),
        ("nothing", DECLINE, None),
        ("", SUBMIT, None),
    ],
)
def test_says_matches_whole_leading_words(name: str, phrases: tuple[str, ...], said: str) -> None:
    assert says(name, phrases) == said


def _button(index: int, name: str, kind: str = "submit", form: int = 0) -> Control:
    return Control(index=index, kind=kind, name=normalise(name), raw=name, form=form)


def test_pick_finds_a_button_behind_an_icon_glyph() -> None:
    controls = [_button(0, "\uf058 Accept"), _button(1, "\uf057 Refuse")]
    chosen = pick(controls, CONSENT)
    assert chosen is not None and chosen.index == 0


def test_pick_prefers_a_button_to_a_link_saying_the_same() -> None:
    controls = [_button(0, "Login help", kind="link"), _button(1, "Log in")]
    chosen = pick(controls, SUBMIT)
    assert chosen is not None and chosen.index == 1


def test_pick_prefers_the_exact_name_to_a_longer_one() -> None:
    # Auth0: "Continue with Google" comes after the form's own "Continue", but not always.
    controls = [_button(0, "Continue with Google"), _button(1, "Continue")]
    chosen = pick(controls, SUBMIT)
    assert chosen is not None and chosen.index == 1


def test_pick_takes_a_longer_name_when_nothing_is_exact() -> None:
    controls = [_button(0, "Forgot password?", kind="link"), _button(1, "Sign in to Example")]
    chosen = pick(controls, SUBMIT)
    assert chosen is not None and chosen.index == 1


def test_pick_ignores_fields_and_unknown_words() -> None:
    controls = [
        Control(index=0, kind="text", name="login"),
        _button(1, "Search"),
        _button(2, "\uf002"),
    ]
    assert pick(controls, SUBMIT) is None


def test_pick_follows_the_order_of_the_phrases() -> None:
    controls = [_button(0, "Continue"), _button(1, "Allow")]
    chosen = pick(controls, CONSENT)
    assert chosen is not None and chosen.index == 1


def test_explain_lists_fields_buttons_and_why_none_fit() -> None:
    controls = [
        Control(index=0, kind="text", name="identifier", id="f1", field_name="ident"),
        _button(1, "\uf0a9 Weiter"),
        _button(2, "Sign in"),
    ]
    lines = explain(controls, {"submit": SUBMIT, "consent": ("allow",)})
    assert lines[0] == "fields (1):"
    assert lines[1] == (
        "  text #f1 name=ident 'identifier' -> unknown: no username in its type, autocomplete, "
        "name or id"
    )
    assert lines[2] == "buttons (2):"
    assert "'weiter'" in lines[3] and "shown as '\\uf0a9 Weiter'" in lines[3]
    assert lines[3].endswith("-> no known word")
    assert lines[4].endswith("-> submit")
    assert lines[5].startswith("looked for submit: 'sign in'")
    assert lines[6] == "looked for consent: 'allow'"


@pytest.mark.parametrize(
    ("field", "role"),
    [
        (Control(index=0, kind="password", name="x"), "password"),
        (Control(index=0, kind="text", name="x", autocomplete="one-time-code"), "one-time code"),
        (Control(index=0, kind="text", name="x", field_name="otp"), "one-time code"),
        (Control(index=0, kind="email", name="x"), "username"),
        (Control(index=0, kind="text", name="x", field_name="j_username"), "username"),
        (Control(index=0, kind="text", name="x", id="userNameInput"), "username"),
        (Control(index=0, kind="text", name="x", autocomplete="username"), "username"),
        (Control(index=0, kind="text", name="x", field_name="kennung"), "unknown"),
    ],
)
def test_field_role_reads_the_signs_the_flow_uses(field: Control, role: str) -> None:
    assert field_role(field).startswith(role)


def test_explain_shows_a_name_as_displayed_only_when_it_differs_beyond_case() -> None:
    assert "shown as" not in explain([_button(0, "Sign In")], {})[2]
    assert "shown as '\u2714 Allow'" in explain([_button(0, "\u2714 Allow")], {})[2]


def test_explain_lists_buttons_before_links_and_cuts_a_long_footer_short() -> None:
    links = [_button(i, f"Link {i}", kind="link") for i in range(30)]
    lines = explain([*links, _button(30, "Weiter")], {})
    assert lines[2].startswith("  submit 'weiter'")
    assert lines[-1] == "  ... and 11 more"


def test_explain_says_when_the_page_has_nothing() -> None:
    assert explain([], {})[:2] == ["fields: none", "buttons: none"]
