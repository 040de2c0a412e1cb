// A stand-in for Okta's Sign-In Widget bundle (Identity Engine, v7): it arrives after the page
// and renders the form into #okta-login-container. Written by us after Okta's public DOM.
(function () {
  var step = document.body.getAttribute('data-step');
  var identifier =
    '<div data-se="o-form-fieldset-identifier" class="o-form-fieldset o-form-label-top">' +
    '<div data-se="o-form-label" class="okta-form-label o-form-label"><label for="input28">Username</label></div>' +
    '<div data-se="o-form-input-container" class="o-form-input"><span data-se="o-form-input-identifier" class="o-form-input-name-identifier o-form-control okta-form-input-field input-fix">' +
    '<input type="text" placeholder="" name="identifier" id="input28" value="" aria-label="" autocomplete="username" aria-required="true" required></span></div></div>' +
    '<div data-se="o-form-fieldset-rememberMe" class="o-form-fieldset o-form-label-top"><div class="custom-checkbox">' +
    '<input type="checkbox" name="rememberMe" id="input36"><label for="input36" data-se-for-name="rememberMe">Keep me signed in</label></div></div>';
  var passcode =
    '<div data-se="o-form-fieldset-credentials.passcode" class="o-form-fieldset o-form-label-top">' +
    '<div data-se="o-form-label" class="okta-form-label o-form-label"><label for="input59">Password</label></div>' +
    '<div data-se="o-form-input-container" class="o-form-input"><span data-se="o-form-input-credentials.passcode" class="o-form-input-name-credentials.passcode o-form-control okta-form-input-field input-fix">' +
    '<input type="password" placeholder="" name="credentials.passcode" id="input59" value="" aria-label="" autocomplete="current-password" aria-required="true" required>' +
    '<span class="password-toggle"><span class="eyeicon visibility-16 button-show" role="button" tabindex="0" aria-label="Show password"></span></span></span></div></div>';
  var html =
    '<div id="okta-sign-in" class="auth-container main-container no-beacon" role="main"><div class="okta-sign-in-header auth-header"><h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" class="auth-org-logo" alt="Example University logo"></h1></div>' +
    '<div class="auth-content"><div class="auth-content-inner"><div class="siw-main-view ' + (step === 'password' ? 'challenge-authenticator--okta_password' : 'identify-recovery primary-auth') + '">' +
    '<div class="siw-main-header"></div><div class="siw-main-body">' +
    '<form method="POST" action="' + (step === 'password' ? 'challenge' : 'identify') + '" data-se="o-form" slot="content" id="form23" class="ion-form o-form o-form-edit-mode">' +
    '<div data-se="o-form-content" class="o-form-content o-form-theme clearfix"><h2 data-se="o-form-head" class="okta-form-title o-form-head">' + (step === 'password' ? 'Verify with your password' : 'Sign In') + '</h2>' +
    '<div class="o-form-error-container" data-se="o-form-error-container"></div><div class="o-form-fieldset-container" data-se="o-form-fieldset-container">' +
    (step === 'password' ? passcode : identifier) + '</div></div>' +
    '<div class="o-form-button-bar"><input class="button button-primary" type="submit" value="' + (step === 'password' ? 'Verify' : 'Next') + '" data-type="save"></div></form>' +
    '</div><div class="siw-main-footer"><div class="auth-footer"><a data-se="forgot-password" href="#" class="link js-forgot-password">Forgot password?</a>' +
    (step === 'password' ? ' <a data-se="switchAuthenticator" href="#" class="link js-switchAuthenticator">Verify with something else</a> <a data-se="cancel" href="#" class="link js-cancel">Back to sign in</a>' : '') +
    '</div></div></div></div></div></div>';
  document.getElementById('okta-login-container').innerHTML = html;
})();
