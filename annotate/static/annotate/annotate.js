// Keyboard shortcuts for the annotator page. The page works without this file
// (plain form posts); with it, an annotator never has to touch the mouse.
(function () {
  "use strict";
  var started = Date.now();

  // A refused submit, skip or undo answers 4xx with the task and its named error: swap it in
  // like a 200. (htmx reads only the first htmx-config meta, base.html's, so this is set here.)
  if (window.htmx) {
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "4..", swap: true, error: false },
      { code: "...", swap: false, error: true }
    ];
  }
  var STRENGTH_KEYS = { z: "significantly", x: "better", c: "slightly", v: "negligibly" };
  var CHOICE_KEYS = { "1": "choose-a", "2": "choose-b", "3": "choose-tie", "4": "choose-both-bad" };

  function stampSeconds() {
    var field = document.querySelector("[data-seconds]");
    if (field) field.value = ((Date.now() - started) / 1000).toFixed(2);
  }

  function toggleHelp() {
    var help = document.getElementById("help");
    if (!help) return;
    if (help.open) help.close(); else help.showModal();
  }

  document.addEventListener("submit", function (event) {
    if (event.target && event.target.id === "judge") stampSeconds();
  }, true);

  // The Undo offer (#undo) lasts the seconds the server says are left, counted down here; the
  // server refuses a late undo anyway, so this only keeps a dead button off the screen.
  var undoTimer = null;
  function armUndo() {
    if (undoTimer) { clearInterval(undoTimer); undoTimer = null; }
    var form = document.getElementById("undo");
    if (!form) return;
    var deadline = Date.now() + 1000 * parseInt(form.getAttribute("data-undo-seconds") || "0", 10);
    var shown = form.querySelector("[data-undo-left]");
    undoTimer = setInterval(function () {
      var left = Math.ceil((deadline - Date.now()) / 1000);
      if (left <= 0 || !document.body.contains(form)) {
        clearInterval(undoTimer); undoTimer = null;
        if (form.parentNode) form.parentNode.removeChild(form);
      } else if (shown) {
        shown.textContent = String(left);
      }
    }, 250);
  }
  armUndo();

  // A new item swapped in by htmx restarts the clock (and brings its own Undo offer, or none).
  document.addEventListener("htmx:afterSwap", function () { started = Date.now(); armUndo(); });

  document.addEventListener("click", function (event) {
    if (event.target && event.target.matches && event.target.matches("[data-help-toggle]")) toggleHelp();
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" && target.type !== "radio");
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "?") { event.preventDefault(); toggleHelp(); return; }
    var help = document.getElementById("help");
    if (help && help.open) return;
    if (document.querySelector("#judge button[disabled]")) return; // a submit is in flight
    if (CHOICE_KEYS[event.key]) {
      var button = document.getElementById(CHOICE_KEYS[event.key]);
      if (button) { event.preventDefault(); stampSeconds(); button.click(); }
    } else if (STRENGTH_KEYS[event.key]) {
      var radio = document.querySelector('#judge input[name="strength"][value="' + STRENGTH_KEYS[event.key] + '"]');
      if (radio) { event.preventDefault(); radio.checked = true; }
    } else if (event.key === "s") {
      var skip = document.getElementById("skip-button");
      if (skip) { event.preventDefault(); skip.click(); }
    } else if (event.key === "u") {
      var undo = document.getElementById("undo-button");
      if (undo && !undo.disabled) { event.preventDefault(); undo.click(); }
    } else if (event.key === "n") {
      var box = document.getElementById("rationale");
      if (box) { event.preventDefault(); box.focus(); }
    }
  });
})();
