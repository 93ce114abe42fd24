// The admin's progress pages (an import, a delete-all): polls a job's status payload once a second
// until the job has finished, and renders it into the page. The page says where each value goes:
//   data-status-url="..."          on the root: the JSON status payload to poll
//   data-field="name"              text of the payload's `name` (numbers with thousands separators;
//                                  data-empty="–" says what to show for null, "…" otherwise)
//   data-show="running|finished|retryable|errors|errors_capped|error_message"   shown only then
//   data-rows="row_errors" data-columns="line,sku,..."   a <tbody> filled with those rows
//   .bar / .fill                   the progress bar, at the payload's `percent`
//   data-outcome-class             class "success" once the job succeeded, "error" otherwise
//   data-reload-when-finished      on the root: load the page again once the job has finished
// The root gets the class `failure` when the job failed, and `status-<status>` always.
(function () {
  "use strict";
  const FINISHED = ["SUCCESS", "FAILURE", "REVOKED"];
  const EVERY_MS = 1000;

  function text(value, empty) {
    if (value === null || value === undefined) return empty === undefined ? "…" : empty;
    if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString() : Math.round(value).toLocaleString();
    return String(value);
  }

  function cases(s) {
    return {
      running: !FINISHED.includes(s.status),
      finished: FINISHED.includes(s.status),
      retryable: s.status === "FAILURE" || s.status === "REVOKED",
      errors: Boolean(s.errors),
      errors_capped: s.errors_stored !== undefined && s.errors_stored < s.errors,
      error_message: Boolean(s.error_message),
    };
  }

  function render(root, s) {
    for (const el of root.querySelectorAll("[data-field]")) {
      const name = el.dataset.field;
      el.textContent = name === "percent" ? s.percent + "%" : text(s[name], el.dataset.empty);
    }
    for (const el of root.querySelectorAll("[data-outcome-class]")) el.className = s.status === "SUCCESS" ? "success" : "error";
    const bar = root.querySelector(".bar");
    if (bar) {
      bar.setAttribute("aria-valuenow", s.percent);
      bar.querySelector(".fill").style.width = s.percent + "%";
    }
    const now = cases(s);
    for (const el of root.querySelectorAll("[data-show]")) el.hidden = !now[el.dataset.show];
    for (const body of root.querySelectorAll("[data-rows]")) {
      const columns = body.dataset.columns.split(",");
      body.replaceChildren(...(s[body.dataset.rows] || []).map((row) => {
        const tr = document.createElement("tr");
        for (const column of columns) {
          const td = document.createElement("td");
          td.textContent = row[column];
          tr.appendChild(td);
        }
        return tr;
      }));
    }
    root.className = root.className.replace(/\bstatus-\w+/g, "").trim() + " status-" + s.status.toLowerCase();
    root.classList.toggle("failure", s.status === "FAILURE");
    return now.finished;
  }

  function watch(root) {
    const url = root.dataset.statusUrl;
    async function poll() {
      try {
        const response = await fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"});
        if (response.ok && render(root, await response.json())) {
          if ("reloadWhenFinished" in root.dataset) window.location.reload();  // the page has more to show
          return;
        }
      } catch (e) { /* the next poll tries again */ }
      setTimeout(poll, EVERY_MS);
    }
    poll();
  }

  document.querySelectorAll("[data-status-url]").forEach(watch);
})();
