// Long polling: one POST to /a/message/updates is always waiting; the server answers it when a
// message arrives. New messages are posted to /a/message/new. No libraries needed.
"use strict";

function getCookie(name) {
  const match = document.cookie.match("\\b" + name + "=([^;]*)\\b");
  return match ? match[1] : undefined;
}

function post(url, fields) {
  const body = new URLSearchParams(fields);
  body.set("_xsrf", getCookie("_xsrf"));
  return fetch(url, { method: "POST", body });
}

let cursor = null;

function show(message) {
  if (document.getElementById("m" + message.id)) return;
  const node = document.createElement("div");
  node.innerHTML = message.html;
  document.getElementById("inbox").append(node.firstElementChild);
  cursor = message.id;
}

async function poll() {
  for (;;) {
    try {
      const response = await post("/a/message/updates", cursor ? { cursor } : {});
      if (!response.ok) throw new Error(response.status);
      (await response.json()).messages.forEach(show);
    } catch (e) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

document.getElementById("messageform").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("message");
  const response = await post("/a/message/new", { body: input.value });
  if (response.ok) show(await response.json());
  input.value = "";
});

const last = document.querySelector("#inbox .message:last-child");
if (last) cursor = last.id.slice(1);
poll();
