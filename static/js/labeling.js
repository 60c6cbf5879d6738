/* The labeling screen: keyboard shortcuts, drafts kept in this browser as well as on the server, the
 * provision picker's chips, and honest save states. Everything here is an enhancement: the page works with
 * plain form posts when this file does not run. */
(function () {
  "use strict";
  if (!window.htmx) { return; }
  document.documentElement.classList.add("js");

  // 400 (what to fix) and 409 (both versions) come back as fragments to show in place; other errors are
  // not swapped and are handled below, so an error page never replaces the annotator's work.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "40[09]", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];

  var STORE_PREFIX = "medes:draft:";

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }

  // After signing in again in another tab the CSRF token has changed: always send the current one.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = cookie("csrftoken");
    if (!token) { return; }
    event.detail.headers["X-CSRFToken"] = token;
    if (event.detail.verb !== "get" && event.detail.parameters) {
      try { event.detail.parameters.csrfmiddlewaretoken = token; } catch (e) { /* read-only: header suffices */ }
    }
  });

  function panel() { return document.getElementById("label-panel"); }
  function form() { return document.getElementById("label-form"); }
  function storeKey(p) { return STORE_PREFIX + p.dataset.user + ":" + p.dataset.item; }

  function state(f) {
    var data = { scores: {}, rationale: "", provisions: [], savedAt: Date.now() };
    f.querySelectorAll("input[type=radio]:checked").forEach(function (r) { data.scores[r.name] = r.value; });
    var text = f.querySelector("textarea[name=rationale]");
    data.rationale = text ? text.value : "";
    f.querySelectorAll("#provision-chips input[name=provisions]:checked").forEach(function (c) {
      data.provisions.push({ id: c.value, text: c.closest("li").textContent.replace("×", "").trim() });
    });
    return data;
  }

  function same(a, b) {
    return JSON.stringify([a.scores, a.rationale, a.provisions.map(function (p) { return String(p.id); })]) ===
      JSON.stringify([b.scores, b.rationale, b.provisions.map(function (p) { return String(p.id); })]);
  }

  function remember() {
    var p = panel(), f = form();
    if (!p || !f || f.querySelector("textarea[disabled]")) { return; }
    try { localStorage.setItem(storeKey(p), JSON.stringify(state(f))); } catch (e) { /* full or blocked */ }
  }

  function chip(id, text) {
    var li = document.createElement("li");
    li.className = "chip";
    li.dataset.provision = id;
    var label = document.createElement("label");
    var box = document.createElement("input");
    box.type = "checkbox"; box.name = "provisions"; box.value = id; box.checked = true;
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + text));
    var remove = document.createElement("button");
    remove.type = "button"; remove.className = "chip-remove"; remove.textContent = "×";
    remove.setAttribute("data-remove-chip", "");
    remove.setAttribute("aria-label", "remove");
    li.appendChild(label); li.appendChild(remove);
    return li;
  }

  function changed(f) {
    f.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function status(text, kind) {
    var box = document.getElementById("draft-status");
    if (!box) { return; }
    box.textContent = "";
    var span = document.createElement("span");
    span.className = kind === "error" ? "not-saved" : "pending";
    span.dataset.state = kind;
    if (kind === "error") { span.setAttribute("role", "alert"); }
    span.textContent = text;
    box.appendChild(span);
  }

  function restore(p, f) {
    if (p.dataset.restore === "off" || f.querySelector("textarea[disabled]")) { return; }
    var saved;
    try { saved = JSON.parse(localStorage.getItem(storeKey(p)) || "null"); } catch (e) { saved = null; }
    if (!saved || !(saved.savedAt > Number(p.dataset.savedMs || 0)) || same(saved, state(f))) { return; }
    f.querySelectorAll("input[type=radio]").forEach(function (r) { r.checked = saved.scores[r.name] === r.value; });
    var text = f.querySelector("textarea[name=rationale]");
    if (text) { text.value = saved.rationale || ""; }
    var chips = document.getElementById("provision-chips");
    if (chips) {
      chips.textContent = "";
      (saved.provisions || []).forEach(function (pr) { chips.appendChild(chip(pr.id, pr.text)); });
    }
    status(p.dataset.restoredText || "Restored from this browser; saving…", "pending");
    htmx.trigger(document.body, "labeling:save");
  }

  function init() {
    var p = panel(), f = form();
    if (!p || !f || p.dataset.ready) { return; }
    p.dataset.ready = "1";
    restore(p, f);
    f.addEventListener("input", remember);
    f.addEventListener("change", function (event) {
      var box = event.target;
      if (box.matches && box.matches("input[data-add-provision]") && box.checked) {
        var chips = document.getElementById("provision-chips");
        var li = box.closest("li");
        if (chips && !chips.querySelector('li[data-provision="' + box.value + '"]')) {
          chips.appendChild(chip(box.value, li.textContent.trim().split(/\s{2,}/)[0]));
        }
        li.remove();
        changed(f);
      }
    });
    f.addEventListener("click", function (event) {
      var button = event.target.closest("[data-remove-chip]");
      if (button) { button.closest("li").remove(); changed(f); }
    });
    var search = document.getElementById("provision-q");
    if (search) {
      search.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
          event.preventDefault();
          htmx.trigger(search, "search");
        }
      });
    }
  }

  document.addEventListener("htmx:load", init);
  document.addEventListener("DOMContentLoaded", init);

  // --- save states: never "saved" unless the server said so ---
  function isDraft(elt) { return elt && (elt.id === "draft-status" || elt.getAttribute("hx-target") === "#draft-status"); }
  function isSubmit(elt) { return elt && elt.hasAttribute && elt.hasAttribute("data-label-submit"); }
  function signedOut() {
    var banner = document.getElementById("signed-out");
    if (banner) { banner.hidden = false; }
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (isDraft(event.detail.elt)) { status(panel() ? panel().dataset.savingText || "Saving…" : "Saving…", "pending"); }
  });
  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var elt = event.detail.elt, code = event.detail.xhr.status;
    if (isSubmit(elt) && (code === 200 || code === 204)) {
      try { localStorage.removeItem(STORE_PREFIX + elt.dataset.user + ":" + elt.dataset.labelSubmit); } catch (e) { /* ignore */ }
    }
    if (code === 200 && panel()) { var banner = document.getElementById("signed-out"); if (banner) { banner.hidden = true; } }
  });
  document.addEventListener("htmx:responseError", function (event) {
    var code = event.detail.xhr.status, p = panel();
    if (code === 401) {
      signedOut();
      status(p ? p.dataset.signedOutText : "Signed out", "error");
    } else {
      status((p ? p.dataset.failedText : "Not saved") + " (" + code + ")", "error");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    var p = panel();
    status(p ? p.dataset.offlineText : "The server cannot be reached", "error");
  });

  // --- keyboard ---
  function typing(el) {
    if (!el || !el.tagName) { return false; }
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") { return true; }
    return el.tagName === "INPUT" && ["radio", "checkbox", "button", "submit", "hidden"].indexOf(el.type) < 0;
  }

  document.addEventListener("keydown", function (event) {
    var p = panel();
    if (!p) { return; }
    var f = form();
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      if (f && f.querySelector("[data-testid=submit]")) { event.preventDefault(); f.requestSubmit(); }
      return;
    }
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    if (event.key === "S" && event.shiftKey) {
      var skipForm = document.getElementById("skip-form");
      if (skipForm) { event.preventDefault(); skipForm.requestSubmit(); }
      return;
    }
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "n") {
      // reserving the next item is a POST: the form posts it (with its CSRF token), as its button would
      var next = document.getElementById("next-form");
      if (next) { event.preventDefault(); next.requestSubmit(); }
      return;
    }
    if (key === "t") {
      var text = f && f.querySelector("textarea[name=rationale]:not([disabled])");
      if (text) { event.preventDefault(); text.focus(); }
      return;
    }
    if (key === "/") {
      var search = document.getElementById("provision-q");
      if (search) { event.preventDefault(); search.focus(); }
      return;
    }
    if (!f || event.shiftKey) { return; }
    var radio = f.querySelector('input[type=radio][data-shortcut="' + CSS.escape(key) + '"]:not([disabled])');
    if (radio) {
      event.preventDefault();
      radio.checked = true;
      radio.dispatchEvent(new Event("input", { bubbles: true }));
      radio.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });
})();
