// The competition site's own script: a live countdown, a searchable and sortable leaderboard,
// and participants' histories loaded on demand. No library, no request outside the site.
// Everything that comes from the data is inserted as text (textContent), never as HTML.
(function () {
  "use strict";

  function countdown(box) {
    var start = Date.parse(box.getAttribute("data-start"));
    var end = Date.parse(box.getAttribute("data-end"));
    var line = box.querySelector(".grader-countdown");
    if (!line || isNaN(start) || isNaN(end)) return;
    function span(ms) {
      var s = Math.max(0, Math.floor(ms / 1000));
      var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
      var m = Math.floor((s % 3600) / 60), sec = s % 60;
      var pad = function (n) { return (n < 10 ? "0" : "") + n; };
      return (d ? d + " d " : "") + pad(h) + " h " + pad(m) + " min " + pad(sec) + " s";
    }
    function tick() {
      var now = Date.now();
      if (now < start) {
        box.className = "grader-status grader-upcoming";
        line.textContent = "Opens in " + span(start - now) + ".";
      } else if (now < end) {
        box.className = "grader-status grader-open";
        line.textContent = "Open — closes in " + span(end - now) + ".";
      } else {
        box.className = "grader-status grader-ended";
        line.textContent = "Ended.";
        return;
      }
      window.setTimeout(tick, 1000);
    }
    tick();
  }

  function board(root) {
    var table = root.querySelector("table");
    var filter = root.querySelector(".grader-filter");
    var nomatch = root.querySelector(".grader-nomatch");
    if (!table) return;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var headers = table.tHead.rows[0].cells;

    function value(row, col, numeric) {
      var cell = row.cells[col];
      var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
      return numeric ? parseFloat(raw) : raw.toLowerCase();
    }
    function sortBy(col, ascending) {
      var numeric = headers[col].getAttribute("data-sort") === "num";
      var sorted = rows.slice().sort(function (a, b) {
        var x = value(a, col, numeric), y = value(b, col, numeric);
        var c = x < y ? -1 : x > y ? 1 : 0;
        if (!ascending) c = -c;
        return c !== 0 ? c : value(a, 0, true) - value(b, 0, true);  // equal: the better rank first
      });
      var fragment = document.createDocumentFragment();
      sorted.forEach(function (row) { fragment.appendChild(row); });
      body.appendChild(fragment);
      for (var i = 0; i < headers.length; i++) {
        headers[i].setAttribute("aria-sort", i === col ? (ascending ? "ascending" : "descending") : "none");
      }
    }
    Array.prototype.forEach.call(headers, function (th, col) {
      th.tabIndex = 0;
      th.title = "Sort by this column";
      function activate() { sortBy(col, th.getAttribute("aria-sort") !== "ascending"); }
      th.addEventListener("click", activate);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); activate(); } });
    });
    if (filter) {
      filter.addEventListener("input", function () {
        var q = filter.value.trim().toLowerCase(), shown = 0;
        rows.forEach(function (row) {
          var hit = !q || row.cells[1].textContent.toLowerCase().indexOf(q) !== -1;
          row.hidden = !hit;
          if (hit) shown++;
        });
        if (nomatch) nomatch.hidden = shown !== 0;
      });
    }
  }

  function history(root) {
    var base = root.getAttribute("data-base");
    var shards = parseInt(root.getAttribute("data-shards"), 10) || 1;
    function shard(key) {  // FNV-1a, as grader.site.shard computes it
      var h = 0x811c9dc5;
      for (var i = 0; i < key.length; i++) { h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0; }
      return h % shards;
    }
    var view = root.querySelector(".grader-view");
    var message = root.querySelector(".grader-message");
    var form = root.querySelector(".grader-pick");
    var score = function (v) { return v === null ? "—" : v.toFixed(5); };
    var repo = root.getAttribute("data-repo");  // https://github.com/OWNER/NAME, when the build knew it
    // The secondary metrics' names (metric.secondary): a column each after the public score, shown, never ranked.
    var names = JSON.parse(root.getAttribute("data-secondary") || "[]");
    if (form) form.hidden = false;  // without this script the page shows a plain list instead
    message.hidden = false;

    function say(text) { message.textContent = text; message.hidden = false; view.hidden = true; }
    function summary(data) {
      var text;
      if (data.removed) {  // taken off the ranking by an organiser: say so, and why
        text = (data.removed === "disqualified" ? "Disqualified" : "Removed from the ranking") +
          " by the organisers. Reason: " + data.reason + ". Not ranked";
      } else {
        text = (data.rank === null ? "no score yet" : "rank " + data.rank + ", best public score " + score(data.best_score)) +
          "; " + data.entries + " entr" + (data.entries === 1 ? "y" : "ies");
      }
      if (data.final_rank !== undefined) {  // only after the reveal
        var extra = data.private_secondary ? "; private " + names.map(function (n, k) {
          return n + " " + score(data.private_secondary[k]);
        }).join(", ") + " (shown, not ranked)" : "";
        text = "Final rank " + data.final_rank + ", private score " + score(data.private_score) +
          (data.counted ? " (submission #" + data.counted + ")" : "") + extra + "; public " + text;
      }
      return /[.!?]$/.test(text) ? text : text + ".";
    }
    function badge(td, text, kind, title) {
      var mark = document.createElement("span");
      mark.className = "grader-badge" + (kind ? " " + kind : "");
      mark.textContent = text;
      mark.title = title;
      td.appendChild(document.createTextNode(" "));
      td.appendChild(mark);
    }
    function links(td, link) {  // [pull request number, "RUN/ATTEMPT"]: the pull request and its Actions run
      var parts = [];
      if (link && link[0]) parts.push(["PR #" + link[0], repo && repo + "/pull/" + link[0]]);
      if (link && link[1]) {
        var run = link[1].split("/");
        parts.push([repo ? "Actions run" : "run " + run[0], repo && repo + "/actions/runs/" + run[0] + "/attempts/" + run[1]]);
      }
      parts.forEach(function (part, i) {
        if (i) td.appendChild(document.createTextNode(" · "));
        var node = part[1] ? document.createElement("a") : document.createTextNode(part[0]);
        if (part[1]) { node.href = part[1]; node.textContent = part[0]; }
        td.appendChild(node);
      });
    }
    function show(data) {
      var team = data.team || null;  // a team's members; each row then says who submitted it
      var finals = data.final || [];  // chosen for the private leaderboard
      root.querySelector(".grader-who").textContent = data.username;
      var members = root.querySelector(".grader-members");
      members.textContent = team ? "Team: " + team.join(", ") : "";
      members.hidden = !team;
      view.querySelector(".grader-by").hidden = !team;
      root.querySelector(".grader-summary").textContent = summary(data);
      var body = view.querySelector("tbody");
      while (body.firstChild) body.removeChild(body.firstChild);
      data.submissions.forEach(function (s, row) {
        var tr = document.createElement("tr");
        var off = s[6];  // "removed", "disqualified" or "reset": the row does not count
        tr.className = "grader-" + s[3] + (off ? " grader-off" : "");
        var shown = off && s[4] !== null ? score(s[4]) + " (not counted)" : score(s[4]);
        var values = (data.secondary || [])[row] || [];  // null for a row without them
        var cells = [String(s[0]), s[1], s[2], off || s[3], shown];
        if (team) cells.splice(2, 0, s[7]);
        var status = cells.length - 2;
        names.forEach(function (n, k) { cells.push(score(values[k] === undefined ? null : values[k])); });
        cells.push(s[5]);
        cells.forEach(function (text, i) {
          var td = document.createElement("td");
          td.textContent = text;
          if (i === status) {
            if (finals.indexOf(s[0]) !== -1) badge(td, "final", "", "Chosen for the private leaderboard");
            if (data.counted === s[0]) badge(td, "counted", "grader-counted", "Its private score decided the final rank");
          }
          if (i > status && i < cells.length - 1) td.className = "grader-num";  // the scores
          tr.appendChild(td);
        });
        var cell = document.createElement("td");
        links(cell, (data.links || {})[String(s[0])]);
        tr.appendChild(cell);
        body.appendChild(tr);
      });
      message.hidden = true;
      view.hidden = false;
    }
    // The histories are gzipped JSON. A host that serves .gz files with "Content-Encoding: gzip"
    // has the browser unpack them already: unpack only what still starts with gzip's magic bytes.
    function unpack(buffer) {
      var bytes = new Uint8Array(buffer);
      if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return JSON.parse(new TextDecoder().decode(bytes));
      var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      return new Response(stream).json();
    }
    function load() {
      var key = decodeURIComponent(window.location.hash.slice(1));
      if (!key) return;
      if (!/^[A-Za-z0-9-]{1,39}$/.test(key)) { say("There is no participant called “" + key + "”."); return; }
      say("Loading…");
      fetch(base + shard(key) + ".json.gz", { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.arrayBuffer(); })
        .then(unpack)
        .then(function (all) {
          if (!Object.prototype.hasOwnProperty.call(all, key)) throw new Error("unknown");
          var data = all[key];
          // A team member's login points at the team's history: show that one instead.
          if (typeof data.member_of === "string") { window.location.replace("#" + encodeURIComponent(data.member_of)); return; }
          show(data);
        })
        .catch(function () { say("There is no participant called “" + key + "”."); });
    }
    if (form) {
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var who = form.elements.who.value.trim();
        if (who) window.location.hash = encodeURIComponent(who);
      });
    }
    window.addEventListener("hashchange", load);
    load();
  }

  function historyLinks() {  // a name leads to the plain history page; with this script, to the participants page
    document.querySelectorAll("a[data-who]").forEach(function (a) {
      a.setAttribute("href", "participants.html#" + encodeURIComponent(a.getAttribute("data-who")));
    });
  }

  function start() {
    historyLinks();
    document.querySelectorAll(".grader-status[data-end]").forEach(countdown);
    document.querySelectorAll(".grader-board").forEach(board);
    document.querySelectorAll(".grader-history").forEach(history);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
