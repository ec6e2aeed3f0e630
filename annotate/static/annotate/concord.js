// Behaviour shared by every page, kept out of the templates: the Content-Security-Policy
// (config/settings.py) runs no inline script or on* attribute.
(function () {
  "use strict";
  // <select data-autosubmit>: choosing an option submits its form (without JavaScript the
  // form's <noscript> button does the same).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("select[data-autosubmit]") && target.form) {
      target.form.requestSubmit();
    }
  });
})();
