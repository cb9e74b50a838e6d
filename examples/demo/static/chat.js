// The chat page's script: Tornado's chat demo without jQuery.
//
// Two ways to get the messages:
// - A WebSocket to /chatsocket (the default, when the browser has WebSocket): it carries the
//   history, then each new message, and our posts.
// - Long polling (/?mode=poll, Tornado's chat demo; also when the socket cannot open, e.g.
//   behind a proxy that drops the Upgrade): one request is always waiting on
//   /a/message/updates; the server answers it as soon as a message arrives (or after its
//   timeout, with nothing), and we ask again at once. Posting goes to /a/message/new; the new
//   message then reaches us through the poll, like everyone else's.
// Why the socket by default: a browser opens at most 6 HTTP/1.1 connections to one host, for
// all its tabs together, and each polling tab keeps one busy. With 6 tabs polling, a 7th tab
// (its page, its posts) waited for some poll to end: up to the poll timeout, 30 s. WebSockets
// do not count against that limit.
"use strict";

const inbox = document.getElementById("inbox");
const form = document.getElementById("message-form");
const input = document.getElementById("message");
const statusLine = document.getElementById("status");
// The page comes with the newest messages (<div class="message" id="mID">, as show() makes
// them), as Tornado's chat page does: continue after the last of them, so that the history the
// socket or the first poll brings shows none of them twice.
const rendered = inbox.querySelectorAll(".message");
// The id of the last message shown.
let cursor = rendered.length ? Number(rendered[rendered.length - 1].id.slice(1)) : 0;
inbox.scrollTop = inbox.scrollHeight; // the newest at the bottom, in view

// The server checks that POSTs carry the _xsrf cookie's token (eddy_app_set_xsrf_cookies).
function getCookie(name) {
  const m = document.cookie.match("(?:^|;)\\s*" + name + "=([^;]*)");
  return m ? decodeURIComponent(m[1]) : "";
}

function post(url, fields) {
  const body = new URLSearchParams(fields);
  body.set("_xsrf", getCookie("_xsrf"));
  return fetch(url, { method: "POST", body });
}

function show(message) {
  if (message.id <= cursor) return; // already shown
  cursor = message.id;
  const div = document.createElement("div");
  div.className = "message";
  div.id = "m" + message.id;
  div.textContent = message.body; // textContent, never innerHTML: bodies are untrusted text
  inbox.append(div);
  inbox.scrollTop = inbox.scrollHeight;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function poll() {
  for (;;) {
    try {
      const response = await post("/a/message/updates", { cursor });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      data.messages.forEach(show);
      statusLine.textContent = "";
    } catch (err) {
      statusLine.textContent = "Connection problem (" + err.message + "); retrying...";
      await sleep(2000); // do not hammer a server that is down
    }
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = input.value;
  if (!body.trim()) return;
  // A message that could not be posted stays in the input to be sent again, as in Tornado's
  // chat (it clears the input only on success).
  if (socket) {
    if (socket.readyState !== WebSocket.OPEN) {
      statusLine.textContent = "Could not post (WebSocket not open)";
      return;
    }
    socket.send(body);
    input.value = "";
    return;
  }
  input.value = "";
  try {
    const response = await post("/a/message/new", { body });
    if (!response.ok) throw new Error("HTTP " + response.status);
  } catch (err) {
    if (!input.value) input.value = body; // unless the person already typed the next one
    statusLine.textContent = "Could not post (" + err.message + ")";
  }
});

// WebSocket mode: one socket to /chatsocket carries both directions; the server sends
// {"messages":[...]} (on connect the history after our cursor, so neither what the page came
// with nor, on a reconnect, what we already showed; then each new message) and we send bodies
// as text frames.
let socket = null;

// `fallBack`: poll instead if this first socket never opens (a reconnect after an open socket
// closed keeps trying the socket: the server may just be restarting).
function connectSocket(fallBack) {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    "/chatsocket?cursor=" + cursor;
  let opened = false;
  socket = new WebSocket(url);
  socket.onopen = () => {
    opened = true;
    statusLine.textContent = "";
  };
  socket.onmessage = (event) => JSON.parse(event.data).messages.forEach(show);
  socket.onclose = () => {
    if (!opened && fallBack) {
      socket = null;
      document.body.classList.remove("websocket-mode");
      poll();
      return;
    }
    statusLine.textContent = "Connection problem (WebSocket closed); retrying...";
    setTimeout(() => connectSocket(false), 2000);
  };
}

const mode = new URLSearchParams(location.search).get("mode");
if (mode === "poll" || !("WebSocket" in window)) {
  poll();
} else {
  document.body.classList.add("websocket-mode");
  connectSocket(mode !== "ws"); // ?mode=ws: the socket only, never polls
}
