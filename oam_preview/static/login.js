/* The token login: the token is kept in this tab's session storage (http.js), never in a URL;
   logging in or out asks the listing again, which then holds the private images the token sees. */
import { apiToken, setApiToken } from "./http.js";

/** Wire the login form of the page: after each login and logout the ``list`` (list.js) is asked
 * again with the same filters (another answer), then ``refreshAll()``. */
export function createLogin({ list, refreshAll }) {
  const $ = (id) => document.getElementById(id);
  const input = $("login-token");
  const loginButton = $("login-button");
  const logoutButton = $("logout-button");
  const show = () => {
    const inside = Boolean(apiToken());
    loginButton.hidden = inside;
    logoutButton.hidden = !inside;
    input.hidden = inside;
  };
  const changed = () => {
    show();
    list.model.key = ""; // the same filters, another answer: the listing is asked again
    refreshAll();
  };
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiToken(input.value.trim());
    input.value = "";
    changed();
  });
  logoutButton.addEventListener("click", () => {
    setApiToken("");
    changed();
  });
  show();
  return { show };
}
