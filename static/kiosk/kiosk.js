// Kiosk behaviour: on-screen keypads, card readers, the PIN → confirm step, "Processing…" while a
// payment is sent, the idle reset, the receipt's return to the start, "Start over?", the
// accessibility switch, printing. No inline scripts or handlers anywhere (strict CSP). Every page
// works without it: these only make the same forms and links quicker to use.
(function () {
  "use strict";

  var body = document.body;

  // --- Keypads --------------------------------------------------------------------------------

  function maxDigits(input) {
    return parseInt(input.getAttribute("data-max-digits") || "32", 10);
  }

  function pressKey(input, key) {
    if (key === "clear") {
      input.value = "";
    } else if (key === "back") {
      input.value = input.value.replace(/\s+$/, "").slice(0, -1);
    } else if (input.value.replace(/\D/g, "").length < maxDigits(input)) {
      input.value += key;
    }
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // A card number reads in groups of four as it is typed ("6006 4910 0000 0005"); the server
  // ignores the spaces. A reader's track data (not only digits) is left exactly as it came.
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (input.name !== "card_number" || !/^[0-9 ]*$/.test(input.value)) {
      return;
    }
    var grouped = input.value.replace(/ /g, "").replace(/([0-9]{4})(?=[0-9])/g, "$1 ");
    if (grouped !== input.value) {
      input.value = grouped;
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-key]");
    if (!button) {
      return;
    }
    var pad = button.closest("[data-keypad-for]");
    var input = pad && document.getElementById(pad.getAttribute("data-keypad-for"));
    if (input) {
      pressKey(input, button.getAttribute("data-key"));
    }
  });

  // A keypad tap must not take the focus from the input: a card reader types into the focus.
  document.addEventListener("mousedown", function (event) {
    if (event.target.closest("[data-key]")) {
      event.preventDefault();
    }
  });

  // A reader (or a keyboard) typing while nothing is focused types into the page's main input.
  document.addEventListener("keydown", function (event) {
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "TEXTAREA")) {
      return;
    }
    if (event.key.length !== 1 || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var primary = document.querySelector("[data-primary-input]");
    if (primary && !primary.closest("[hidden]") && !document.querySelector("dialog[open]")) {
      primary.focus();
    }
  });

  // --- PIN, then "Confirm" ----------------------------------------------------------------------

  function setupConfirmStep(form) {
    var pinStep = document.getElementById("pin-step");
    var confirmStep = document.getElementById("confirm-step");
    var next = document.querySelector("[data-action=to-confirm]");
    var back = document.querySelector("[data-action=back-to-pin]");
    var pin = form.querySelector("input[type=password]");
    var error = document.getElementById("pin-step-error");
    if (!pinStep || !confirmStep || !next || !pin) {
      return;
    }
    var keypad = document.getElementById("pin-pad"); // the keypad and Continue, beside the form
    var pinField = pin.closest(".field");
    var title = document.getElementById("pin-title");
    var pinTitle = title ? title.textContent : "";

    function setTitle(text) {
      if (title && text) {
        title.textContent = text;
        document.title = text + document.title.slice(document.title.indexOf(" · "));
      }
    }

    function showPin() {
      confirmStep.hidden = true;
      next.hidden = false;
      error.hidden = true;
      if (keypad) { keypad.hidden = false; }
      if (pinField) { pinField.hidden = false; }
      if (back) { back.hidden = true; }
      setTitle(pinTitle);
      pin.focus();
    }

    function showConfirm() {
      if (!/^[0-9]{4,8}$/.test(pin.value)) {
        error.hidden = false;
        pin.focus();
        return;
      }
      error.hidden = true;
      if (keypad) { keypad.hidden = true; }
      if (pinField) { pinField.hidden = true; }
      confirmStep.hidden = false;
      if (back) { back.hidden = false; }
      setTitle(title && title.getAttribute("data-confirm-title"));
      form.querySelector("#confirm-pay").focus();
    }

    next.addEventListener("click", showConfirm);
    if (back) {
      back.addEventListener("click", showPin);
    }
    // Enter in the PIN field (or a reader's Enter) goes to the confirm step, never straight to pay.
    form.addEventListener("submit", function (event) {
      if (confirmStep.hidden) {
        event.preventDefault();
        event.stopImmediatePropagation();
        showConfirm();
      }
    }, true);
    showPin();
  }

  // --- "Processing…" and one submission per form ---------------------------------------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented) {
      return;
    }
    if (form.dataset.submitted === "1") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "1";
    // The pressed button says so at once (data-processing): the next screen may take a moment.
    var submitter = event.submitter;
    if (submitter && form.hasAttribute("data-processing")) {
      submitter.setAttribute("aria-label", submitter.textContent.trim());
      // The words come from the page (data-processing-text), in the guest's language.
      submitter.textContent = document.getElementById("busy").getAttribute("data-processing-text");
    }
    var message = form.getAttribute("data-busy");
    if (message) {
      suspendIdle();
      document.getElementById("busy-text").textContent = message;
      document.getElementById("busy").hidden = false;
    }
    window.setTimeout(function () {
      // form.elements: its buttons outside it too (form="…", beside the keypad)
      Array.prototype.forEach.call(form.elements, function (element) {
        if (element.type === "submit") {
          element.disabled = true;
        }
      });
    }, 0);
  });

  // --- Accessibility mode: switched in place; the server keeps it for the visit -----------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-accessibility")) {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
    var field = form.querySelector("input[name=accessible]");
    var on = field.value === "1";
    var data = new FormData(form); // the state just asked for, before the switch flips
    body.classList.toggle("accessible", on);
    form.querySelector("[aria-pressed]").setAttribute("aria-pressed", on ? "true" : "false");
    field.value = on ? "0" : "1";
    // The attract screen's start buttons carry the mode into the visit they start: keep them in step.
    document.querySelectorAll(".start-form input[name=accessible]").forEach(function (input) {
      input.value = on ? "1" : "";
    });
    window.fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-Kiosk-Fetch": "1" },
      body: data,
    }).catch(function () { /* this page has switched; the next one asks the server again */ });
  }, true);

  // --- Idle reset -------------------------------------------------------------------------------

  var idleSeconds = parseFloat(body.getAttribute("data-idle-seconds") || "0");
  var countdownSeconds = parseFloat(body.getAttribute("data-idle-countdown") || "15");
  // The receipt: a visible countdown back to the start instead of the idle dialog (a touch
  // starts it again).
  var returnSeconds = parseFloat(body.getAttribute("data-return-seconds") || "0");
  var returnNote = document.getElementById("return-note");
  var returnCount = document.getElementById("return-count");
  var touchUrl = body.getAttribute("data-touch-url");
  var csrfToken = body.getAttribute("data-csrf");
  var lastActivity = Date.now();
  var lastPing = Date.now();
  var countdownEndsAt = null;
  var dialog = document.getElementById("idle-dialog");
  var countOutput = document.getElementById("idle-count");
  var endForm = document.getElementById("idle-end-form");
  var ending = false;

  function suspendIdle() {
    body.setAttribute("data-idle-suspended", "");
  }

  function idleSuspended() {
    return body.hasAttribute("data-idle-suspended");
  }

  // The server ends a visit that sends nothing for too long; tell it the guest is still here.
  function ping() {
    if (!touchUrl) {
      return;
    }
    lastPing = Date.now();
    window.fetch(touchUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken },
    }).catch(function () { /* the next touch tries again */ });
  }

  function activity() {
    lastActivity = Date.now();
    if (countdownEndsAt === null && Date.now() - lastPing > Math.min(idleSeconds * 500, 20000)) {
      ping();
    }
  }

  function closeCountdown() {
    countdownEndsAt = null;
    if (dialog && dialog.open) {
      dialog.close();
    }
    activity();
    ping();
  }

  function endVisit() {
    if (ending) {
      return;
    }
    ending = true;
    endForm.requestSubmit();
  }

  function tick() {
    if (ending || !dialog) {
      return;
    }
    if (idleSuspended()) {
      lastActivity = Date.now();
      if (countdownEndsAt !== null) {
        closeCountdown();
      }
      return;
    }
    var now = Date.now();
    if (returnSeconds > 0 && returnCount) {
      var remaining = Math.max(0, Math.ceil(returnSeconds - (now - lastActivity) / 1000));
      returnCount.textContent = String(remaining);
      if (remaining <= 0) {
        endVisit();
      }
      return;
    }
    if (countdownEndsAt === null) {
      if (now - lastActivity >= idleSeconds * 1000) {
        countdownEndsAt = now + countdownSeconds * 1000;
        countOutput.textContent = String(Math.ceil(countdownSeconds));
        dialog.showModal();
        dialog.querySelector("[data-action=still-here]").focus();
      }
      return;
    }
    var left = Math.max(0, Math.ceil((countdownEndsAt - now) / 1000));
    countOutput.textContent = String(left);
    if (left <= 0) {
      endVisit();
    }
  }

  if (returnNote && returnSeconds > 0) {
    returnNote.hidden = false;
  }
  if ((idleSeconds > 0 || returnSeconds > 0) && dialog) {
    ["pointerdown", "keydown", "touchstart", "input"].forEach(function (name) {
      document.addEventListener(name, function () {
        if (countdownEndsAt === null) {
          activity();
        }
      }, { passive: true, capture: true });
    });
    dialog.querySelector("[data-action=still-here]").addEventListener("click", closeCountdown);
    dialog.addEventListener("cancel", function (event) {
      event.preventDefault(); // Escape counts as "I'm still here"
      closeCountdown();
    });
    window.setInterval(tick, 250);
  }

  // --- "Start over?" in a dialog (without JavaScript the link opens the same question as a page) --

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog]");
    var target = opener && document.getElementById(opener.getAttribute("data-dialog"));
    if (target && typeof target.showModal === "function") {
      event.preventDefault();
      target.showModal();
      var first = target.querySelector("[data-action=close-dialog]");
      if (first) { first.focus(); }
      return;
    }
    var closer = event.target.closest("[data-action=close-dialog]");
    if (closer) {
      closer.closest("dialog").close();
    }
  });

  // --- Printing, focus, the back button ---------------------------------------------------------

  document.querySelectorAll("[data-action=print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });

  // Coming back with the Back button never shows a kept copy of a page: ask the server again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });

  document.querySelectorAll("form[data-confirm-step]").forEach(setupConfirmStep);

  var flash = document.getElementById("flash");
  var firstError = document.querySelector(".has-error input");
  var autofocus = document.querySelector("[data-primary-input]");
  if (firstError) {
    firstError.focus();
  } else if (flash && flash.getAttribute("role") === "alert") {
    flash.focus();
  } else if (autofocus && !autofocus.closest("[hidden]")) {
    autofocus.focus();
  }
})();
