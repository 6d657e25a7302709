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

/** Runs what a person asked for, then shows the state it left; errors are announced. */
async function attempt(action) {
  show(null);
  tell(null);
  try {
    await action();
  } catch (error) {
    // A token refused and no session left to refresh: the session ended (elsewhere, or here).
    const ended = error?.code === "unauthorized" && !client.auth.user();
    show(ended ? "your session has ended; sign in again" : error);
  }
  try {
    await render();
  } catch (error) {
    show(error);
  }
}

function button(text, className, onclick, label) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = text;
  if (label) element.setAttribute("aria-label", label);
  element.onclick = onclick;
  return element;
}

async function render() {
  const user = client.auth.user();
  $("#signed-out").hidden = Boolean(user);
  $("#app").hidden = !user;
  $("#tasks").replaceChildren();
  $("#sessions").replaceChildren();
  if (!user) return;
  $("#who").textContent = user.email;
  $("#unverified").hidden = user.email_verified;
  const tasks = await client.tasks.list({ status: $("#filter").value });
  $("#empty").hidden = tasks.length > 0;
  for (const task of tasks) {
    const item = document.createElement("li");
    item.dataset.id = String(task.id);
    item.className = task.completed ? "done" : "";
    const title = document.createElement("input");
    title.className = "title";
    title.value = task.title;
    title.setAttribute("aria-label", `Title of “${task.title}”`);
    item.append(
      title,
      button("Save", "save", () => attempt(() => client.tasks.update(task.id, { title: title.value })), `Save “${task.title}”`),
      button(task.completed ? "Undo" : "Done", "toggle", () => attempt(() => client.tasks.toggle(task.id)),
        `${task.completed ? "Mark pending" : "Mark done"}: “${task.title}”`),
      button("Delete", "delete danger", () => attempt(() => client.tasks.remove(task.id)), `Delete “${task.title}”`),
    );
    $("#tasks").append(item);
  }
  for (const session of await client.auth.sessions()) {
    const item = document.createElement("li");
    const when = new Date(session.last_used_at).toLocaleString();
    item.append(session.current ? `This session (last used ${when})` : `Another session, last used ${when}`);
    if (!session.current) {
      item.append(button("End", "end", () => attempt(() => client.auth.endSession(session.id)), `End the session last used ${when}`));
    }
    $("#sessions").append(item);
  }
}

$("#auth").onsubmit = (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const credentials = { email: form.get("email"), password: form.get("password") };
  attempt(async () => {
    await client.auth[event.submitter.value](credentials);
    event.target.reset();
  }).then(() => {
    // Where the signed-in page starts, for keyboards and screen readers.
    if (client.auth.user()) $("#tasks-heading").focus();
  });
};
$("#forgot").onsubmit = (event) => {
  event.preventDefault();
  const email = event.target.elements.email.value;
  attempt(async () => tell(await client.auth.forgotPassword(email)));
};
$("#add").onsubmit = (event) => {
  event.preventDefault();
  const title = event.target.elements.title;
  attempt(async () => {
    await client.tasks.create({ title: title.value });
    title.value = "";
  });
};
$("#filter").onchange = () => attempt(async () => {});
$("#signout").onclick = () => attempt(() => client.auth.signOut());
$("#resend").onclick = () => attempt(async () => tell(await client.auth.resendVerification()));
$("#password").onsubmit = (event) => {
  event.preventDefault();
  const form = event.target.elements;
  attempt(async () => {
    await client.auth.changePassword({ currentPassword: form.current.value, newPassword: form.new.value });
    event.target.reset();
    tell("Your password is changed; every other session has ended.");
  });
};
$("#end-others").onclick = () =>
  attempt(async () => {
    await client.auth.endOtherSessions();
    tell("Every other session has ended.");
  });
$("#delete-account").onsubmit = (event) => {
  event.preventDefault();
  const password = event.target.elements.password.value;
  attempt(async () => {
    await client.auth.deleteAccount(password);
    event.target.reset();
    tell("Your account and its tasks are deleted.");
  });
};

// The stored session, if any, survives a reload.
attempt(async () => {});
