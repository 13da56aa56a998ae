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
  // A button with data-busy-text says so at once ("Processing…"), and the form's status line
  // announces it.
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
    var busy = event.submitter && event.submitter.dataset ? event.submitter.dataset.busyText : "";
    if (!busy && buttons.length === 1) {
      busy = buttons[0].dataset.busyText;
    }
    window.setTimeout(function () {
      buttons.forEach(function (button) {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
        if (busy && button.dataset.busyText) {
          button.textContent = button.dataset.busyText;
        }
      });
      var status = form.querySelector("[data-busy-status]");
      if (status && busy) {
        // The page's own words (data-busy-status), in the guest's language.
        status.textContent = busy + " " + status.getAttribute("data-busy-status");
      }
    }, 0);
  }

  // Card numbers: the digits grouped in fours as they are typed (the server drops the spaces).
  // Only digits, spaces and dashes are regrouped; anything else is left for the server to refuse.
  function groupCardNumber(event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-card-number]")) {
      return;
    }
    var value = input.value;
    if (!/^[0-9 \-]*$/.test(value)) {
      return;
    }
    var caret = input.selectionStart === null ? value.length : input.selectionStart;
    var digitsBefore = value.slice(0, caret).replace(/[^0-9]/g, "").length;
    var digits = value.replace(/[^0-9]/g, "").slice(0, 19);
    var grouped = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
    if (grouped === value) {
      return;
    }
    input.value = grouped;
    var position = 0;
    var seen = 0;
    while (position < grouped.length && seen < digitsBefore) {
      if (grouped.charAt(position) !== " ") {
        seen += 1;
      }
      position += 1;
    }
    input.setSelectionRange(position, position);
  }

  function groupPrefilledCardNumbers() {
    document.querySelectorAll("input[data-card-number]").forEach(function (input) {
      if (/^[0-9]{5,19}$/.test(input.value)) {
        input.value = input.value.replace(/(\d{4})(?=\d)/g, "$1 ");
      }
    });
  }

  // The Pay button says the amount: what is due, or the amount typed for this card.
  function followPayAmount(event) {
    var input = event.target;
    if (!input.form || input.name !== "amount") {
      return;
    }
    var button = input.form.querySelector("button[data-pay-due]");
    if (!button) {
      return;
    }
    var typed = input.value.trim().replace(/^\$/, "");
    var amount = /^[0-9]{1,5}(\.[0-9]{1,2})?$/.test(typed)
      ? Number(typed).toFixed(2)
      : button.dataset.payDue;
    // "Pay {amount}" in the guest's language, from the page (data-pay-text).
    button.textContent = button.dataset.payText.replace("{amount}", "$" + amount);
  }

  // The receipt's Print button exists only where it can work.
  function showPrintButtons() {
    document.querySelectorAll("button[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        window.print();
      });
    });
  }

  // Coming back with the Back button shows a fresh form, never a disabled one.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });

  document.addEventListener("submit", guardDoubleSubmit, true);
  document.addEventListener("input", groupCardNumber);
  document.addEventListener("input", followPayAmount);
  document.addEventListener("DOMContentLoaded", function () {
    focusFirstAlert();
    groupPrefilledCardNumbers();
    showPrintButtons();
  });
})();
