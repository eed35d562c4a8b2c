// SecurePix pages: previews, password strength, the Encrypt button's gate,
// and encrypting several files one after another (with progress, then a ZIP).
// Loaded as a file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  // 0-4: length and character variety, with common patterns penalised.
  function strength(password) {
    if (!password) return 0;
    let classes = 0;
    for (const pattern of [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/]) if (pattern.test(password)) classes += 1;
    let score = password.length >= 20 ? 4 : password.length >= 14 ? 3 : password.length >= 10 ? 2 : 1;
    if (classes >= 3 && password.length >= 10) score += 1;
    if (/^(.)\1+$/.test(password) || /^(password|123456|qwerty)/i.test(password)) score = 0;
    return Math.max(0, Math.min(4, score));
  }
  const STRENGTH = ["too weak", "weak", "fair", "good", "strong"];

  function dataUrlToBlob(url) {
    const [head, body] = url.split(",", 2);
    const type = head.slice(5).split(";")[0];
    const bytes = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
    return new Blob([bytes], { type: type });
  }

  function setUpEncrypt(form) {
    const images = form.querySelector("#images");
    const previews = document.getElementById("previews");
    const predictions = document.getElementById("predictions");
    const password = form.querySelector("#password");
    const again = form.querySelector("#password2");
    const meter = document.getElementById("strength");
    const meterLabel = document.getElementById("strength-label");
    const match = document.getElementById("password-match");
    const button = document.getElementById("encrypt-button");
    const why = document.getElementById("gate-reason");
    const progress = document.getElementById("progress");
    const status = document.getElementById("run-status");
    const results = document.getElementById("results");
    const zip = document.getElementById("zip");
    let running = false;

    function blocker() {
      if (!images.files.length) return "Choose an image first.";
      if (form.querySelector(".htmx-request") || images.classList.contains("htmx-request")) return "Classifying…";
      if (predictions.querySelectorAll("[data-classified]").length < images.files.length) return "Waiting for the classification.";
      if (predictions.querySelector(".blocked")) return "The policy blocks this domain for at least one image.";
      if (predictions.querySelector(".prediction .problem")) return "Remove the file that cannot be read.";
      if (predictions.querySelector(".mismatch")) {
        const box = form.querySelector("#acknowledge");
        const reason = form.querySelector("#acknowledgment_reason");
        if (!box || !box.checked || !reason || !reason.value.trim())
          return "Acknowledge the mismatch (tick the box and give a reason) to encrypt.";
      }
      if (!password.value) return "Enter a password.";
      if (password.value.length < password.minLength) return `The password needs at least ${password.minLength} characters.`;
      if (document.querySelector("#password-policy[data-weak]")) return "The password is too weak to protect a file (see above).";
      if (password.value !== again.value) return "The two passwords differ.";
      return "";
    }

    function gate() {
      const score = strength(password.value);
      meter.value = score;
      meterLabel.textContent = password.value ? STRENGTH[score] : "empty";
      match.textContent = again.value && again.value !== password.value ? "The two passwords differ." : "";
      const reason = running ? "Encrypting…" : blocker();
      button.disabled = reason !== "";
      why.textContent = reason || "Ready.";
    }

    images.addEventListener("change", function () {
      previews.replaceChildren();
      predictions.replaceChildren();
      for (const file of images.files) {
        const figure = document.createElement("figure");
        const caption = document.createElement("figcaption");
        caption.textContent = file.name;
        if (file.type.startsWith("image/")) {
          const img = document.createElement("img");
          img.src = URL.createObjectURL(file);
          img.alt = "preview of " + file.name;
          figure.append(img);
        }
        figure.append(caption);
        previews.append(figure);
      }
      gate();
    });
    form.addEventListener("input", gate);
    form.addEventListener("change", gate);
    document.body.addEventListener("htmx:afterSettle", gate);
    document.body.addEventListener("htmx:beforeRequest", gate);

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (button.disabled) return;
      running = true;
      gate();
      const files = Array.from(images.files);
      const made = [];
      results.replaceChildren();
      zip.replaceChildren();
      progress.hidden = false;
      progress.max = files.length;
      progress.value = 0;
      for (const [index, file] of files.entries()) {
        status.textContent = "Encrypting " + (index + 1) + " of " + files.length + ": " + file.name;
        const body = new FormData(form);
        body.delete("images");
        body.set("image", file, file.name);
        const response = await fetch(form.dataset.runUrl, {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
        });
        const holder = document.createElement("div");
        holder.innerHTML = await response.text(); // our own server's fragment
        results.append(holder);
        const link = holder.querySelector("a[data-encrypted]");
        if (response.ok && link) made.push([link.getAttribute("download"), link.href]);
        progress.value = index + 1;
      }
      status.textContent = "Done: " + made.length + " of " + files.length + " encrypted.";
      if (made.length > 1) {
        status.textContent += " Making the ZIP…";
        const body = new FormData();
        for (const [name, url] of made) body.append("encrypted", dataUrlToBlob(url), name);
        const response = await fetch(form.dataset.zipUrl, {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken() },
        });
        if (response.ok) {
          const link = document.createElement("a");
          link.href = URL.createObjectURL(await response.blob());
          link.download = "securepix-encrypted.zip";
          link.className = "button";
          link.dataset.testid = "download-zip";
          link.textContent = "Download all " + made.length + " (ZIP)";
          zip.replaceChildren(link);
          status.textContent = "Done: " + made.length + " of " + files.length + " encrypted.";
        } else {
          status.textContent += " The ZIP could not be made.";
        }
      }
      password.value = "";
      again.value = "";
      running = false;
      gate();
    });
    gate();
  }

  ready(function () {
    const form = document.getElementById("encrypt-form");
    if (form) setUpEncrypt(form);
    // The decrypt form: forget the password once the answer is in.
    document.body.addEventListener("htmx:afterRequest", function (event) {
      if (event.target && event.target.id === "decrypt-form") {
        const field = document.getElementById("decrypt-password");
        if (field) field.value = "";
      }
    });
  });
})();
