/*
 * Starts Swagger UI on /api (gateway/templates/api_docs.html).
 *
 * A file of its own, not an inline script: the page's Content-Security-Policy lets in the
 * gateway's own script files and nothing else (gateway/security.py). Swagger UI reads the
 * document from the same origin, never a validator or anything else elsewhere; once it has
 * drawn the operations, the server-rendered reference (the page without JavaScript) is
 * hidden so the page does not say everything twice.
 */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var reference = document.getElementById("api-reference");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return; // no Swagger UI: the server-rendered reference stays
  }
  // A signed-in session's unsafe requests need its CSRF token (the page's sign-out form holds it).
  var csrf = document.querySelector('input[name="csrf_token"]');

  // Some of Swagger UI's controls have no accessible name (axe select-name, label and
  // button-name, all critical): the picker of named examples, the request body editor of
  // "Try it out" and its parameter fields, the Authorize dialog's close button (an icon).
  // Each gets its name as Swagger UI draws it.
  function nameUnlabelledControls() {
    var named = [
      ["select.examples-select-element", function () { return "Examples"; }],
      ["textarea.body-param__text", function () { return "Request body (JSON)"; }],
      ["button.close-modal", function () { return "Close"; }],
      ["tr[data-param-name] input, tr[data-param-name] select", function (control) {
        return control.closest("tr").getAttribute("data-param-name");
      }]
    ];
    named.forEach(function (entry) {
      var controls = root.querySelectorAll(entry[0]);
      for (var i = 0; i < controls.length; i += 1) {
        if (!controls[i].hasAttribute("aria-label") && !controls[i].labels.length) {
          controls[i].setAttribute("aria-label", entry[1](controls[i]));
        }
      }
    });
  }
  new MutationObserver(nameUnlabelledControls).observe(root, { childList: true, subtree: true });

  window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    domNode: root,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: false, // its links sit inside the expand buttons (axe nested-interactive)
    validatorUrl: null, // else it asks validator.swagger.io for a badge
    tryItOutEnabled: false,
    // its highlighting colours read 3.5:1 on the dark code boxes (axe color-contrast);
    // plain text there is white on #333, 12.6:1
    syntaxHighlight: { activated: false },
    requestInterceptor: function (request) {
      if (csrf && request.method && request.method !== "GET") {
        request.headers["X-CSRFToken"] = csrf.value;
      }
      return request;
    },
    onComplete: function () {
      if (reference) {
        reference.hidden = true;
      }
    }
  });
})();
