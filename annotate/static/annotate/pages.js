// Staff forms answered with htmx (members, tokens): a 400 or 409 carries the form with its
// error message, so swap it in like a success instead of dropping it (htmx's default).
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var status = detail.xhr ? detail.xhr.status : 0;
    if ((status === 400 || status === 409) && detail.target && detail.target.closest("[data-swap-errors]")) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });
})();
