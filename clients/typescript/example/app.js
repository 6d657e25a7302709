// The example's whole logic: the client does sessions, refresh and errors; this only renders.
import { createClient, localStorageAdapter } from "../dist/index.js";
// The API's URL is the page's configuration, never something its own URL can name: a link to
// this page with another API in it would otherwise send that API the stored tokens.
import { apiUrl as api } from "./config.js";

const $ = (selector) => document.querySelector(selector);

const client = createClient({
  baseUrl: api,
  storage: localStorageAdapter(),
  onSessionEnd: () => show("your session has ended; sign in again"),
});
// For the browser test, which drives two tabs at once.
window.todo = client;

function show(error) {
  $("#error").textContent = error ? (error.message ?? String(error)) : "";
}

function tell(notice) {
  $("#notice").textContent = notice ?? "";
}

async function attempt(action) {
  show(null);
  tell(null);
  try {
    await action();
  } catch (error) {
    show(error);
  }
  try {
    await render();
  } catch (error) {
    show(error);
  }
}

async function render() {
  const user = client.auth.user();
  $("#auth").hidden = Boolean(user);
  $("#forgot").hidden = Boolean(user);
  $("#app").hidden = !user;
  $("#unverified").hidden = !user || user.email_verified;
  $("#tasks").replaceChildren();
  if (!user) return;
  $("#who").textContent = user.email;
  for (const task of await client.tasks.list()) {
    const item = document.createElement("li");
    item.dataset.id = String(task.id);
    item.className = task.completed ? "done" : "";
    item.innerHTML =
      '<input class="title"> <button class="save">Save</button> ' +
      '<button class="toggle"></button> <button class="delete">Delete</button>';
    item.querySelector(".title").value = task.title;
    item.querySelector(".toggle").textContent = task.completed ? "Undo" : "Done";
    item.querySelector(".save").onclick = () =>
      attempt(() => client.tasks.update(task.id, { title: item.querySelector(".title").value }));
    item.querySelector(".toggle").onclick = () => attempt(() => client.tasks.toggle(task.id));
    item.querySelector(".delete").onclick = () => attempt(() => client.tasks.remove(task.id));
    $("#tasks").append(item);
  }
}

$("#auth").onsubmit = (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const credentials = { email: form.get("email"), password: form.get("password") };
  attempt(() => client.auth[event.submitter.value](credentials));
};
$("#add").onsubmit = (event) => {
  event.preventDefault();
  const title = event.target.elements.title;
  attempt(async () => {
    await client.tasks.create({ title: title.value });
    title.value = "";
  });
};
$("#signout").onclick = () => attempt(() => client.auth.signOut());
$("#forgot").onsubmit = (event) => {
  event.preventDefault();
  const email = event.target.elements.email.value;
  attempt(async () => tell(await client.auth.forgotPassword(email)));
};
$("#resend").onclick = () => attempt(async () => tell(await client.auth.resendVerification()));

// The stored session, if any, survives a reload.
attempt(async () => {});
