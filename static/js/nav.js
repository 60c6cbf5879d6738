// The header's menus (templates/base.html). They are <details> elements, so they open by mouse and keyboard
// without this file; it adds what menus are expected to do: one open at a time, Escape and a click or focus
// elsewhere close them, and on narrow screens the "Menu" button shows and hides the whole navigation.
"use strict";
document.documentElement.classList.add("nav-js");

(function () {
  function menus() {
    return document.querySelectorAll(".topbar details.nav-menu");
  }

  function closeAll(except) {
    menus().forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }

  function setUp() {
    var header = document.querySelector(".topbar");
    if (!header) return;
    menus().forEach(function (menu) {
      menu.addEventListener("toggle", function () {
        if (menu.open) closeAll(menu);
      });
      menu.addEventListener("focusout", function (event) {
        if (event.relatedTarget && !menu.contains(event.relatedTarget)) menu.open = false;
      });
    });
    document.addEventListener("click", function (event) {
      if (!event.target.closest || !event.target.closest(".topbar details.nav-menu")) closeAll(null);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      var open = document.querySelector(".topbar details.nav-menu[open]");
      if (open) {
        open.open = false;
        open.querySelector("summary").focus();
      }
    });
    var toggle = header.querySelector(".nav-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        var opened = header.classList.toggle("nav-open");
        toggle.setAttribute("aria-expanded", opened ? "true" : "false");
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
