// A stand-in for authentik's flow interface bundle, written by us after its public DOM: Lit
// elements with open shadow roots and PatternFly 4 classes.
const STYLE = `<style>.pf-c-form__group{display:block;margin:.5rem 0}.pf-c-form-control{display:block}
  .pf-c-button{display:block;margin:.5rem 0}</style>`;

class Stage extends HTMLElement {
  constructor(body) {
    super();
    this.attachShadow({ mode: "open" }).innerHTML = STYLE + body;
    this.shadowRoot.querySelector("form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.dispatchEvent(new CustomEvent("ak-submit", { bubbles: true, composed: true,
        detail: Object.fromEntries(new FormData(e.target)) }));
    });
  }
}

class Identification extends Stage {
  constructor() {
    super(`<header class="pf-c-login__main-header"><h1 class="pf-c-title pf-m-3xl">Welcome to authentik!</h1></header>
    <div class="pf-c-login__main-body"><form class="pf-c-form">
      <ak-form-element class="pf-c-form__group"><label class="pf-c-form__label"><span class="pf-c-form__label-text">Email or Username</span>
        <input type="text" name="uidField" placeholder="Email or Username" autofocus autocomplete="username" spellcheck="false" class="pf-c-form-control" value="" required></label>
      </ak-form-element>
      <div class="pf-c-form__group pf-m-action"><button type="submit" class="pf-c-button pf-m-primary pf-m-block">Log in</button></div>
    </form></div>
    <footer class="pf-c-login__main-footer"><ul class="pf-c-login__main-footer-links"></ul></footer>`);
  }
}

class Password extends Stage {
  constructor() {
    super(`<header class="pf-c-login__main-header"><h1 class="pf-c-title pf-m-3xl">Welcome to authentik!</h1></header>
    <div class="pf-c-login__main-body"><form class="pf-c-form">
      <ak-form-static class="pf-c-form__group"><div class="form-control-static"><div class="avatar"><span>student</span></div><div slot="link"><a href="#">Not you?</a></div></div></ak-form-static>
      <ak-form-element class="pf-c-form__group"><label class="pf-c-form__label"><span class="pf-c-form__label-text">Password</span>
        <input type="password" name="password" placeholder="Please enter your password" autofocus autocomplete="current-password" class="pf-c-form-control" required value=""></label>
      </ak-form-element>
      <a href="#" class="pf-c-button pf-m-link">Forgot password?</a>
      <div class="pf-c-form__group pf-m-action"><button type="submit" class="pf-c-button pf-m-primary pf-m-block">Continue</button></div>
    </form></div>`);
  }
}

class Executor extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" }).innerHTML = `<div class="pf-c-login__main"></div>`;
    this.main = this.shadowRoot.querySelector("div");
    this.addEventListener("ak-submit", (e) => this.answer(e.detail));
  }
  connectedCallback() { this.show("ak-stage-identification"); }
  show(tag) { this.main.replaceChildren(document.createElement(tag)); }
  async answer(fields) {
    const body = new URLSearchParams(fields);
    const stage = fields.password !== undefined ? "password" : "identification";
    // The API answers each stage; its last answer sends the browser back to the application.
    const resp = await fetch(`/idp/authentik-flow/api/${stage}`, { method: "POST", body });
    if (stage === "identification") this.show("ak-stage-password");
    else window.location.assign(resp.url);
  }
}

customElements.define("ak-stage-identification", Identification);
customElements.define("ak-stage-password", Password);
customElements.define("ak-flow-executor", Executor);
