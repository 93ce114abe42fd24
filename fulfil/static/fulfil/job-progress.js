// The admin's job pages (an import, a delete-all): polls a job's status payload once a second
// until the job has finished, and renders it into the page. The page says where each value goes:
//   data-status-url="..."          on the root: the JSON status payload to poll
//   data-field="name"              text of the payload's `name` (numbers with thousands separators;
//                                  data-empty="–" says what to show for null, "…" otherwise;
//                                  data-format="duration" writes seconds as "4 min 05 s")
//   data-show="running|finished|cancellable|retryable|errors|errors_capped|warnings"   shown only then
//   data-rows="row_errors" data-columns="line,sku,..."   a <tbody> filled with those rows
//   data-items="warnings"          a list filled with one item per string
//   .bar / .fill                   the progress bar, at the payload's `percent`
//   data-reload-when-finished      on the root: once the job has finished, load the page again and
//                                  put its job in place (the messages above stay)
//   data-confirm="question"        on a form: submitted only if the person confirms
// The root gets the class `tone-<tone>` (the payload's: success, warning, error, neutral, running,
// preview), which colours the outcome banner and the bar, and `status-<status>`.
(function () {
  "use strict";
  const FINISHED = ["SUCCESS", "FAILURE", "REVOKED"];
  const EVERY_MS = 1000;

  // As fulfil/templatetags/fulfil_jobs.py `duration` writes it.
  function duration(seconds) {
    if (seconds < 60) return seconds.toFixed(1) + " s";
    const whole = Math.round(seconds), minutes = Math.floor(whole / 60);
    if (minutes < 60) return minutes + " min " + String(whole % 60).padStart(2, "0") + " s";
    return Math.floor(minutes / 60) + " h " + String(minutes % 60).padStart(2, "0") + " min";
  }

  function text(value, el) {
    const empty = el.dataset.empty;
    if (value === null || value === undefined) return empty === undefined ? "…" : empty;
    if (el.dataset.format === "duration") return duration(value);
    if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString() : Math.round(value).toLocaleString();
    return String(value);
  }

  function cases(s) {
    const running = !FINISHED.includes(s.status);
    return {
      running: running,
      finished: !running,
      cancellable: running && !s.cancel_requested,
      retryable: s.status === "FAILURE" || s.status === "REVOKED",
      errors: Boolean(s.errors),
      errors_capped: s.errors_stored !== undefined && s.errors_stored < s.errors,
      warnings: Boolean(s.warnings && s.warnings.length),
    };
  }

  function fill(list, items, make) {
    list.replaceChildren(...(items || []).map(make));
  }

  function render(root, s) {
    for (const el of root.querySelectorAll("[data-field]")) {
      const name = el.dataset.field;
      el.textContent = name === "percent" ? s.percent + "%" : text(s[name], el);
    }
    const bar = root.querySelector(".bar");
    if (bar) {
      bar.setAttribute("aria-valuenow", s.percent);
      bar.querySelector(".fill").style.width = s.percent + "%";
    }
    const now = cases(s);
    for (const el of root.querySelectorAll("[data-show]")) el.hidden = !now[el.dataset.show];
    for (const body of root.querySelectorAll("[data-rows]")) {
      const columns = body.dataset.columns.split(",");
      fill(body, s[body.dataset.rows], (row) => {
        const tr = document.createElement("tr");
        for (const column of columns) {
          const td = document.createElement("td");
          td.textContent = row[column];
          tr.appendChild(td);
        }
        return tr;
      });
    }
    for (const list of root.querySelectorAll("[data-items]")) {
      fill(list, s[list.dataset.items], (item) => {
        const li = document.createElement("li");
        li.textContent = item;
        return li;
      });
    }
    const kept = root.className.split(/\s+/).filter((c) => c && !/^(status|tone)-/.test(c));
    root.className = [...kept, "status-" + s.status.toLowerCase(), "tone-" + s.tone].join(" ");
    return now.finished;
  }

  // Load the page again and put its finished job in place of this one, so that the messages
  // above it (say, "The import was queued again") stay on screen; a full reload if that fails.
  async function showSummary(root) {
    try {
      const response = await fetch(window.location.href, {headers: {Accept: "text/html"}, credentials: "same-origin"});
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = response.ok && page.getElementById(root.id);
      if (fresh && !("reloadWhenFinished" in fresh.dataset)) {
        root.replaceWith(document.adoptNode(fresh));
        return;
      }
    } catch (e) { /* reloaded below */ }
    window.location.reload();
  }

  function watch(root) {
    const url = root.dataset.statusUrl;
    async function poll() {
      try {
        const response = await fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"});
        if (response.ok && render(root, await response.json())) {
          if ("reloadWhenFinished" in root.dataset) showSummary(root);  // the page has more to show
          return;
        }
      } catch (e) { /* the next poll tries again */ }
      setTimeout(poll, EVERY_MS);
    }
    poll();
  }

  document.addEventListener("submit", (event) => {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });
  document.querySelectorAll("[data-status-url]").forEach(watch);
})();
