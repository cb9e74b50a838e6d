// One WebSocket to /chatsocket: the form sends {"body": text}; every message the server
// broadcasts ({"id", "body", "html"}) is appended to the inbox once.
(function () {
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var socket = new WebSocket(scheme + location.host + "/chatsocket");
  var inbox = document.getElementById("inbox");
  var input = document.getElementById("message");

  socket.onmessage = function (event) {
    var message = JSON.parse(event.data);
    if (document.getElementById("m" + message.id)) return;
    var holder = document.createElement("div");
    holder.innerHTML = message.html;
    inbox.appendChild(holder.firstElementChild || holder);
    inbox.scrollTop = inbox.scrollHeight;
  };

  document.getElementById("messageform").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!input.value) return;
    socket.send(JSON.stringify({ body: input.value }));
    input.value = "";
    input.focus();
  });
})();
