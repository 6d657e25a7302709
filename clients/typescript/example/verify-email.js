// The page a verification (or address-change) link opens: it POSTs the link's token when the
// person asks, never on load.
import { createClient, localStorageAdapter } from "../dist/index.js";
import { apiUrl } from "./config.js";

const client = createClient({ baseUrl: apiUrl, storage: localStorageAdapter() });
const token = new URLSearchParams(location.search).get("token") ?? "";
const $ = (selector) => document.querySelector(selector);

$("#confirm").onclick = async () => {
  $("#error").textContent = "";
  $("#confirm").disabled = true;
  try {
    await client.auth.verifyEmail(token);
    $("#status").textContent = "Your address is confirmed.";
    $("#confirm").hidden = true;
  } catch (error) {
    $("#error").textContent = error.message ?? String(error);
    $("#confirm").disabled = false;
  }
};
