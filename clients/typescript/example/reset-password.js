// The page a reset link opens: it POSTs the link's token with the new password when the person
// sends the form, never on load.
import { createClient, localStorageAdapter } from "../dist/index.js";
import { apiUrl } from "./config.js";

const client = createClient({ baseUrl: apiUrl, storage: localStorageAdapter() });
const token = new URLSearchParams(location.search).get("token") ?? "";
const $ = (selector) => document.querySelector(selector);

$("#reset").onsubmit = async (event) => {
  event.preventDefault();
  $("#error").textContent = "";
  try {
    await client.auth.resetPassword({ token, newPassword: event.target.elements.password.value });
    $("#status").textContent = "Your password is set. Sign in with it.";
    $("#reset").hidden = true;
  } catch (error) {
    $("#error").textContent = error.message ?? String(error);
  }
};
