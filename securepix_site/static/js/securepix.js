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

  // The chosen files' blocks (one per file, in file order) and what each still needs.
  function fileProblems(predictions) {
    const choose = [], checking = [], other = [];
    for (const block of predictions.querySelectorAll("[data-file]")) {
      const name = block.dataset.name;
      if (block.querySelector("[data-unreadable]")) {
        other.push(name + " cannot be encrypted: choose the files again without it.");
        continue;
      }
      const select = block.querySelector("select[data-declared]");
      const decision = block.querySelector("[data-decision]");
      if (!select.value) choose.push(name);
      else if (!decision && block.querySelector(".decision-area [data-testid=problem]"))
        other.push("The policy's decision for " + name + " could not be checked: choose its domain again.");
      else if (!decision || decision.dataset.declared !== select.value || select.classList.contains("htmx-request"))
        checking.push(name);
      else if (decision.dataset.decision === "block")
        other.push("The policy blocks " + name + " as declared: declare the right domain or ask an administrator.");
      else if (decision.dataset.decision === "acknowledge") {
        const box = block.querySelector("input[type=checkbox][name^=acknowledge_]");
        const reason = block.querySelector("textarea[name^=acknowledgment_reason_]");
        if (!box.checked) other.push("Acknowledge the mismatch for " + name + " (tick its box and give a reason).");
        else if (!reason.value.trim()) other.push("Give the reason for encrypting " + name + " as declared.");
      }
    }
    const problems = [];
    if (choose.length) problems.push("Choose the declared domain of each image (or use the suggestion): " + choose.join(", ") + ".");
    if (checking.length) problems.push("Checking the policy for " + checking.join(", ") + "…");
    return problems.concat(other);
  }

  // The form fields of file `index` for /encrypt/run: that file's own declaration and acknowledgment.
  function fileForm(form, index, file, job) {
    const body = new FormData();
    if (job) body.set("job", job);
    const field = (name) => form.querySelector("[name=" + name + "]");
    body.set("image", file, file.name);
    for (const name of ["password", "password2", "cipher"]) body.set(name, field(name).value);
    body.set("declared_domain", field("declared_" + index).value);
    const box = field("acknowledge_" + index);
    const reason = field("acknowledgment_reason_" + index);
    if (box && box.checked) {
      body.set("acknowledge", "1");
      body.set("acknowledgment_reason", reason ? reason.value : "");
    }
    return body;
  }

  // While the server loads its model (after a restart), say so instead of a bare "Classifying…".
  function watchReadiness(form, indicator) {
    let timer = null;
    async function check() {
      let ready = true;
      try {
        ready = (await fetch(form.dataset.readyzUrl, { credentials: "same-origin" })).ok;
      } catch (error) {
        ready = true; // no answer: nothing better to say than "Classifying…"
      }
      indicator.textContent = ready
        ? "Classifying…"
        : "Starting the classifier (the model loads once after a restart); your images are classified as soon as it is ready…";
      timer = ready ? null : setTimeout(check, 2000);
    }
    check();
    return function () {
      if (timer === null) check();
    };
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
    const recheckReadiness = watchReadiness(form, document.getElementById("classifying"));
    let running = false;
    let thumbnails = [];

    function blocker() {
      if (!images.files.length) return "Choose an image first.";
      if (images.classList.contains("htmx-request")) return "Classifying…";
      if (predictions.querySelector(":scope > [data-testid=problem]")) return "The images could not be classified (see above): choose them again.";
      if (predictions.querySelectorAll("[data-file]").length < images.files.length) return "Waiting for the classification.";
      const problems = fileProblems(predictions);
      if (problems.length) return problems.join(" ");
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

    // Each file's preview goes into its own block once the classification is in.
    function placeThumbnails() {
      for (const holder of predictions.querySelectorAll("[data-thumb]")) {
        const thumbnail = thumbnails[Number(holder.dataset.thumb)];
        if (thumbnail && !holder.firstChild) holder.append(thumbnail);
      }
      previews.hidden = predictions.querySelector("[data-thumb]") !== null;
    }

    images.addEventListener("change", function () {
      previews.replaceChildren();
      predictions.replaceChildren();
      for (const url of thumbnails.map((t) => t && t.src)) if (url) URL.revokeObjectURL(url);
      thumbnails = [];
      for (const file of images.files) {
        const figure = document.createElement("figure");
        const caption = document.createElement("figcaption");
        caption.textContent = file.name;
        let img = null;
        if (file.type.startsWith("image/")) {
          img = document.createElement("img");
          img.src = URL.createObjectURL(file);
          img.alt = "preview of " + file.name;
          figure.append(img);
        }
        thumbnails.push(img ? img.cloneNode() : null);
        figure.append(caption);
        previews.append(figure);
      }
      previews.hidden = false;
      recheckReadiness();
      gate();
    });
    // "Use the suggestion": set that file's select as if the user had chosen it.
    predictions.addEventListener("click", function (event) {
      const suggest = event.target.closest("[data-suggest]");
      if (!suggest) return;
      const select = document.getElementById(suggest.dataset.for);
      select.value = suggest.dataset.suggest;
      select.dispatchEvent(new Event("change", { bubbles: true }));
      select.focus();
    });
    // A suggestion already taken needs no button.
    function showSuggestions() {
      for (const suggest of predictions.querySelectorAll("[data-suggest]"))
        suggest.hidden = document.getElementById(suggest.dataset.for).value === suggest.dataset.suggest;
    }
    form.addEventListener("input", gate);
    form.addEventListener("change", function () {
      showSuggestions();
      gate();
    });
    document.body.addEventListener("htmx:afterSettle", function () {
      placeThumbnails();
      showSuggestions();
      gate();
    });
    document.body.addEventListener("htmx:beforeRequest", gate);

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (button.disabled) return;
      running = true;
      gate();
      const files = Array.from(images.files);
      const made = [];
      let job = "";
      let jobDownload = "";
      results.replaceChildren();
      zip.replaceChildren();
      progress.hidden = false;
      progress.max = files.length;
      progress.value = 0;
      for (const [index, file] of files.entries()) {
        status.textContent = "Encrypting " + (index + 1) + " of " + files.length + ": " + file.name;
        const response = await fetch(form.dataset.runUrl, {
          method: "POST",
          body: fileForm(form, index, file, job),
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
        });
        const holder = document.createElement("div");
        holder.innerHTML = await response.text(); // our own server's fragment
        results.append(holder);
        const link = holder.querySelector("a[data-encrypted]");
        const kept = holder.querySelector("[data-job]");
        if (response.ok && link) made.push(link.getAttribute("download"));
        if (response.ok && kept && !job) {
          // the next files join the batch the first one started: one ZIP of them all
          job = kept.dataset.job;
          jobDownload = kept.dataset.jobDownload;
        }
        progress.value = index + 1;
      }
      status.textContent = "Done: " + made.length + " of " + files.length + " encrypted.";
      if (made.length > 1 && jobDownload) {
        const link = document.createElement("a");
        link.href = jobDownload; // kept on the server for their owner: a link, nothing sent back
        link.className = "button";
        link.dataset.testid = "download-zip";
        link.textContent = "Download all " + made.length + " (ZIP)";
        zip.replaceChildren(link);
      }
      password.value = "";
      again.value = "";
      running = false;
      gate();
    });
    gate();
  }

  // The audit page: times in the viewer's time zone (the UTC time stays in the
  // title), and an event's detail in a dialog that htmx fills.
  const LOCAL_TIME = {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short",
  };

  function localTimes(root) {
    for (const time of root.querySelectorAll("time[data-local-time]")) {
      const when = new Date(time.dateTime);
      if (!Number.isNaN(when.getTime())) time.textContent = when.toLocaleString(undefined, LOCAL_TIME);
    }
  }

  function setUpAudit(dialog) {
    const body = document.getElementById("event-dialog-body");
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target !== body) return;
      if (!dialog.open) dialog.showModal();
      // The link that was followed is gone: start reading at the new event's title.
      const title = body.querySelector("h2");
      if (title) title.focus();
    });
    // A click on the backdrop (outside the dialog's box) closes it too.
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) dialog.close();
    });
  }

  ready(function () {
    localTimes(document);
    document.body.addEventListener("htmx:load", (event) => localTimes(event.detail.elt));
    const dialog = document.getElementById("event-dialog");
    if (dialog) setUpAudit(dialog);
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
