// The reports page: show the date or the month picker for the chosen kind of report. The form
// works without this script (both pickers shown); the page itself is rendered by the server.

const form = document.getElementById("report-form");

function sync() {
  const kind = form.querySelector("input[name=kind]:checked")?.value || "daily";
  for (const el of form.querySelectorAll("[data-for-kind]")) {
    const on = el.dataset.forKind === kind;
    el.hidden = !on;
    el.querySelector("input").disabled = !on;
  }
}

form.addEventListener("change", (ev) => { if (ev.target.name === "kind") sync(); });
sync();
