/* The re-cite page: a 400 (what to fix) or 409 (the scenario changed meanwhile) answer to a row's re-cite comes
 * back as that row's fragment and is shown in place. Everything else works with plain form posts. */
(function () {
  "use strict";
  if (!window.htmx) { return; }
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "40[09]", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];
})();
