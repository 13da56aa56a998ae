// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Move focus to the first alert (an error or a decline) so screen readers announce it.
  function focusFirstAlert() {
    var alert = document.querySelector("[data-focus-first]");
    if (alert) {
      alert.focus();
    }
  }

  // A payment form is sent once: the button is disabled right after the browser took the data.
  // (The server is safe against resubmission anyway; this only spares a guest a second click.)
  function guardDoubleSubmit(event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("js-once")) {
      return;
    }
    if (form.dataset.submitted === "1") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "1";
    var buttons = form.querySelectorAll("button[type=submit]");
    window.setTimeout(function () {
      buttons.forEach(function (button) {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
      });
    }, 0);
  }

  // Coming back with the Back button shows a fresh form, never a disabled one.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });

  document.addEventListener("submit", guardDoubleSubmit, true);
  document.addEventListener("DOMContentLoaded", focusFirstAlert);
})();
