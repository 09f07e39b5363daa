// The export page (export_status.html): asks the service how far the export has come
// and shows it in the progress bar; the live text changes at each tenth and when the
// export is done, so that a screen reader is told neither too little nor all the time.
(function () {
  "use strict";
  var box = document.getElementById("export-jobb");
  if (!box) {
    return;
  }
  var bar = document.getElementById("forlopp");
  var text = document.getElementById("forlopp-text");
  var file = document.getElementById("hamta");
  var said = "";
  var failures = 0;

  function show(s) {
    if (s.total > 0) {
      bar.max = s.total;
      bar.value = s.done;
      bar.textContent = Math.round((100 * s.done) / s.total) + " %";
    }
    var tenth = s.total > 0 ? Math.floor((10 * s.done) / s.total) : -1;
    var key = s.state === "writing" ? s.state + tenth : s.state;
    if (key !== said) {
      text.textContent = s.text;
      said = key;
    }
    if (s.state === "done") {
      file.hidden = false;
    }
    return s.state === "done" || s.state === "failed" || s.state === "cancelled";
  }

  function poll() {
    fetch(box.dataset.status, { credentials: "same-origin", cache: "no-store" })
      .then(function (reply) {
        if (!reply.ok) {
          throw new Error(String(reply.status));
        }
        return reply.json();
      })
      .then(function (s) {
        failures = 0;
        if (!show(s)) {
          window.setTimeout(poll, 700);
        }
      })
      .catch(function () {
        failures += 1;
        if (failures < 5) {
          window.setTimeout(poll, 2000);
        } else {
          text.textContent =
            "Det går inte att se hur långt exporten har kommit. Ladda om sidan.";
        }
      });
  }

  if (!file.hidden) {
    return; // done already when the page was made
  }
  poll();
})();
