// Show-password toggles, added only when scripts run: without them the password fields work
// as plain password fields. A file, not inline script, because the CSP allows only 'self'.
(function () {
  "use strict";
  var body = document.body;
  var show = body.getAttribute("data-show-password") || "Show password";
  var hide = body.getAttribute("data-hide-password") || "Hide password";
  var fields = document.querySelectorAll("input[type=password][id]");
  Array.prototype.forEach.call(fields, function (field) {
    var toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "secondary password-toggle";
    toggle.setAttribute("aria-controls", field.id);
    toggle.setAttribute("aria-pressed", "false");
    toggle.textContent = show;
    toggle.addEventListener("click", function () {
      var visible = field.type === "password";
      field.type = visible ? "text" : "password";
      toggle.setAttribute("aria-pressed", visible ? "true" : "false");
      toggle.textContent = visible ? hide : show;
      field.focus();
    });
    field.insertAdjacentElement("afterend", toggle);
  });
})();
