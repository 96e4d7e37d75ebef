// Live lists (secure inbox, quarantine): a websocket says only "changed";
// the page then fetches its list part again, so the server decides, as for
// any page, what this user may see. Reconnects with back-off.
(function () {
  "use strict";
  var box = document.getElementById("live-list");
  if (!box || !window.WebSocket || !window.fetch) return;
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var url = scheme + location.host + "/ws/live/" + box.dataset.live + "/";
  var delay = 1000;

  function refresh() {
    fetch(box.dataset.src, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        box.innerHTML = html;
        box.dataset.updated = String(Date.now());
      })
      .catch(function () { /* the next change or a reload will tell */ });
  }

  function connect() {
    var socket = new WebSocket(url);
    socket.onopen = function () {
      delay = 1000;
      box.dataset.connected = "yes";
    };
    socket.onmessage = refresh;
    socket.onclose = function () {
      box.dataset.connected = "no";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  connect();
})();
