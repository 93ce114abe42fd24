// The webhook form: "All events" ticks every event (and is unticked when one is), and "Add a
// header" adds an empty row of name and value. Without it the form still works: "All events"
// then simply means every event, and two empty header rows are there.
(function () {
  "use strict";
  function ready() {
    const all = document.querySelector("input[name=all_events]");
    const events = Array.from(document.querySelectorAll("input[name=events]"));
    if (all && events.length) {
      const sync = () => { all.checked = events.every((box) => box.checked); };
      all.addEventListener("change", () => events.forEach((box) => { box.checked = all.checked; }));
      events.forEach((box) => box.addEventListener("change", sync));
      sync();
    }
    document.querySelectorAll("button.add-header-row").forEach((button) => {
      button.addEventListener("click", () => {
        const body = document.getElementById(button.dataset.table).tBodies[0];
        const row = body.rows[body.rows.length - 1].cloneNode(true);
        row.querySelectorAll("input").forEach((input) => { input.value = ""; });
        body.appendChild(row);
        row.querySelector("input").focus();
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
