/* The provision picker: search by law, article number (第十二条 or 12) or text, and cite a match as a chip.
 * Markup: templates/benchmark/partials/_provision_picker.html (the DOM contract: var/helpers/picker.md).
 * Everything here is an enhancement: without JavaScript the search button submits the form, the page comes
 * back with the matches as checkboxes, and the chips are plain checked checkboxes.
 * Keyboard: type to search; ArrowDown/ArrowUp move through the matches; Enter cites the highlighted match
 * (or searches at once when none is highlighted); Escape closes the list; each chip's × removes it. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var DELAY = 250;
  var counter = 0;

  function Picker(root) {
    this.root = root;
    this.name = root.getAttribute("data-name");
    this.url = root.getAttribute("data-search-url");
    this.input = root.querySelector("[data-picker-input]");
    this.results = root.querySelector("[data-picker-results]");
    this.chips = root.querySelector("[data-picker-chips]");
    this.button = root.querySelector("[data-picker-search]");
    this.prefix = "picker" + (++counter);
    this.timer = null;
    this.asked = 0;
    this.active = -1;
    this.lastQuery = null;
    if (!this.input || !this.results || !this.chips || !this.url) { return; }
    this.bind();
    this.adopt();
    root.setAttribute("data-ready", "true");
  }

  Picker.prototype.bind = function () {
    var self = this;
    this.input.addEventListener("input", function () {
      clearTimeout(self.timer);
      self.timer = setTimeout(function () { self.search(); }, DELAY);
    });
    this.input.addEventListener("keydown", function (event) { self.onKey(event); });
    if (this.button) {
      this.button.addEventListener("click", function (event) {
        event.preventDefault();
        self.search(true);
        self.input.focus();
      });
    }
    this.results.addEventListener("click", function (event) {
      var option = event.target.closest("[role=option]");
      if (!option) { return; }
      event.preventDefault();
      self.pick(option);
    });
    this.chips.addEventListener("click", function (event) {
      var remove = event.target.closest("[data-picker-remove]");
      if (!remove) { return; }
      event.preventDefault();
      var chip = remove.closest("li");
      var id = chip.getAttribute("data-provision");
      chip.remove();
      var option = self.results.querySelector('[role=option][data-provision="' + id + '"]');
      if (option) { option.classList.remove("picked"); option.setAttribute("aria-selected", "false"); }
      self.root.setAttribute("data-count", String(self.chips.children.length));
      self.input.focus();
    });
  };

  /* matches rendered by the server without JavaScript (a search button press) become options too */
  Picker.prototype.adopt = function () {
    this.results.querySelectorAll("[role=option] input[type=checkbox]").forEach(function (box) {
      box.removeAttribute("name");
      box.tabIndex = -1;
    });
    this.prepare();
    this.root.setAttribute("data-count", String(this.chips.children.length));
  };

  Picker.prototype.options = function () {
    return Array.prototype.slice.call(this.results.querySelectorAll("[role=option]"));
  };

  Picker.prototype.prepare = function () {
    var self = this;
    var listbox = this.results.querySelector("[role=listbox]");
    if (listbox) { listbox.id = this.prefix + "-listbox"; }
    this.options().forEach(function (option, index) {
      option.id = self.prefix + "-option-" + index;
      if (self.chosen(option.getAttribute("data-provision"))) {
        option.classList.add("picked");
        option.setAttribute("aria-selected", "true");
      }
    });
    this.active = -1;
    this.input.removeAttribute("aria-activedescendant");
    this.input.setAttribute("aria-expanded", this.options().length ? "true" : "false");
  };

  Picker.prototype.search = function (now) {
    var query = this.input.value.trim();
    if (!now && query === this.lastQuery) { return; }
    this.lastQuery = query;
    var ticket = ++this.asked;
    var self = this;
    this.root.setAttribute("data-state", "searching");
    var url = this.url + (this.url.indexOf("?") < 0 ? "?" : "&") + "q=" + encodeURIComponent(query);
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true", "Accept": "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (ticket !== self.asked) { return; }  /* a later search has been asked for: this answer is stale */
        self.results.innerHTML = html;
        self.prepare();
        self.root.setAttribute("data-state", "results");
      })
      .catch(function () {
        if (ticket !== self.asked) { return; }
        self.root.setAttribute("data-state", "failed");
      });
  };

  Picker.prototype.highlight = function (index) {
    var options = this.options();
    if (!options.length) { return; }
    index = (index + options.length) % options.length;
    options.forEach(function (option) { option.classList.remove("active"); });
    var option = options[index];
    option.classList.add("active");
    option.scrollIntoView({ block: "nearest" });
    this.active = index;
    this.input.setAttribute("aria-activedescendant", option.id);
  };

  Picker.prototype.close = function () {
    this.results.textContent = "";
    this.active = -1;
    this.input.removeAttribute("aria-activedescendant");
    this.input.setAttribute("aria-expanded", "false");
    this.root.setAttribute("data-state", "closed");
    this.lastQuery = null;
  };

  Picker.prototype.onKey = function (event) {
    if (event.key === "ArrowDown") {
      event.preventDefault();
      this.highlight(this.active + 1);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      this.highlight(this.active < 0 ? -1 : this.active - 1);
    } else if (event.key === "Enter") {
      event.preventDefault();  /* never submits the whole form from the search box */
      var options = this.options();
      if (this.active >= 0 && options[this.active]) {
        this.pick(options[this.active]);
      } else {
        clearTimeout(this.timer);
        this.search(true);
      }
    } else if (event.key === "Escape") {
      if (this.options().length) { event.preventDefault(); this.close(); }
    }
  };

  Picker.prototype.chosen = function (id) {
    return this.chips.querySelector('li[data-provision="' + id + '"]');
  };

  Picker.prototype.pick = function (option) {
    var id = option.getAttribute("data-provision");
    option.classList.add("picked");
    option.setAttribute("aria-selected", "true");
    if (!this.chosen(id)) {
      this.chips.appendChild(this.chip(id, option.getAttribute("data-chip")));
    }
    this.root.setAttribute("data-count", String(this.chips.children.length));
    this.input.focus();
  };

  Picker.prototype.chip = function (id, text) {
    var li = document.createElement("li");
    li.className = "chip";
    li.setAttribute("data-provision", id);
    var label = document.createElement("label");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.name = this.name;
    box.value = id;
    box.checked = true;
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + text));
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chip-remove";
    remove.setAttribute("data-picker-remove", "");
    remove.setAttribute("aria-label", (this.root.getAttribute("data-remove-text") || "Remove") + " " + text);
    remove.textContent = "×";
    li.appendChild(label);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(remove);
    return li;
  };

  function start(scope) {
    (scope || document).querySelectorAll("[data-provision-picker]:not([data-ready])").forEach(function (root) {
      new Picker(root);  // eslint-disable-line no-new
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { start(); });
  } else {
    start();
  }
  /* a picker that arrives in an htmx swap (the adjudication panel's next item) starts too */
  document.addEventListener("htmx:load", function (event) { start(event.target); });
})();
