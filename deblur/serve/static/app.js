// deblur serve: the page. Uploads each dropped photo to /api/jobs, polls its state, and
// shows the finished ones in a before/after slider. No build step, no dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
let limits = null;
let shown = null; // id of the job in the viewer
let uploads = Promise.resolve(); // photos are sent one after the other, in order

function showError(text) {
  const box = $("page-error");
  box.textContent = text || "";
  box.hidden = !text;
}

async function answer(response, name) {
  try {
    return await response.json();
  } catch {
    return { error: `${name}: the server answered ${response.status}` };
  }
}

function options() {
  const method = $("method").value;
  const query = new URLSearchParams({
    method, strength: $("strength").value, guard: $("guard").checked ? "true" : "false",
  });
  if (method !== "net") query.set("psf", $("psf").value.trim() || "auto");
  return query;
}

function card(name) {
  const li = document.createElement("li");
  li.className = "queued";
  li.innerHTML = '<span class="name"></span><span class="state">uploading</span>' +
    '<div class="bar busy"><i></i></div>';
  li.querySelector(".name").textContent = name;
  $("jobs").prepend(li);
  return li;
}

function fail(li, message) {
  li.className = "failed";
  li.dataset.state = "failed";
  li.querySelector(".state").textContent = "failed";
  li.querySelector(".bar").classList.remove("busy");
  const p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = message;
  li.append(p);
}

function update(li, job) {
  li.dataset.state = job.state;
  li.dataset.job = job.id;
  const state = li.querySelector(".state");
  const bar = li.querySelector(".bar");
  const fill = bar.querySelector("i");
  if (job.state === "queued") {
    state.textContent = job.ahead ? `waiting (${job.ahead} ahead)` : "waiting";
    bar.classList.add("busy");
  } else if (job.state === "running") {
    const t = job.elapsed_s || 0;
    if (job.estimate_s) {
      bar.classList.remove("busy");
      const part = Math.min(0.95, t / job.estimate_s);
      fill.style.width = `${(100 * part).toFixed(0)}%`;
      state.textContent = `restoring: ${(100 * part).toFixed(0)}%, ${t.toFixed(1)} s`;
    } else {
      bar.classList.add("busy");
      state.textContent = `restoring: ${t.toFixed(1)} s`;
    }
  } else if (job.state === "done") {
    li.className = "done";
    bar.classList.remove("busy");
    fill.style.width = "100%";
    state.textContent = `done in ${(job.elapsed_s || 0).toFixed(1)} s (${job.width}x${job.height})`;
    li.onclick = () => view(job, li);
    if (shown === null || li === $("jobs").firstElementChild) view(job, li);
  } else {
    fail(li, job.error || `${job.name}: failed`);
  }
}

async function poll(li, id, name) {
  for (;;) {
    let job;
    try {
      const r = await fetch(`/api/jobs/${id}`);
      job = await answer(r, name);
      if (!r.ok) return fail(li, job.error);
    } catch (e) {
      return fail(li, `${name}: lost the server (${e.message})`);
    }
    update(li, job);
    if (job.state === "done" || job.state === "failed") return;
    await new Promise((done) => setTimeout(done, 250));
  }
}

async function upload(file) {
  const li = card(file.name);
  if (limits && file.size > limits.max_upload_bytes) {
    return fail(li, `${file.name}: upload too large (${file.size.toLocaleString("en")} bytes;` +
      ` the limit is ${limits.max_upload_bytes.toLocaleString("en")} bytes,` +
      " set with deblur serve --max-upload-mb)");
  }
  const query = options();
  query.set("name", file.name);
  let r;
  try {
    r = await fetch(`/api/jobs?${query}`, {
      method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file,
    });
  } catch (e) {
    return fail(li, `${file.name}: upload failed (${e.message})`);
  }
  const job = await answer(r, file.name);
  if (!r.ok) return fail(li, job.error);
  update(li, job);
  poll(li, job.id, file.name); // not awaited: the next photo uploads meanwhile
}

function add(files) {
  showError("");
  for (const file of files) uploads = uploads.then(() => upload(file));
}

function view(job, li) {
  shown = job.id;
  for (const other of $("jobs").children) other.classList.toggle("shown", other === li);
  const base = `/api/jobs/${job.id}`;
  $("before").src = `${base}/before`;
  $("after").src = `${base}/after`;
  const note = $("note");
  const action = job.check ? job.check.action : "";
  note.className = action === "kept" ? "kept" : action ? "fell" : "";
  note.textContent = `${job.name}: ${job.note}`;
  const link = $("download");
  link.href = `${base}/result`;
  link.download = job.download_name;
  link.textContent = `Download ${job.download_name}`;
  $("viewer").hidden = false;
  $("viewer").dataset.job = job.id;
}

function slide() {
  const v = Number($("slider").value);
  $("after").style.clipPath = `inset(0 0 0 ${v}%)`;
  $("divider").style.left = `${v}%`;
}

function init() {
  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    add(e.dataTransfer.files);
  });
  // a photo dropped beside the zone must not replace the page
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  $("files").addEventListener("change", (e) => { add(e.target.files); e.target.value = ""; });
  $("method").addEventListener("change", () => { $("psf-label").hidden = $("method").value === "net"; });
  $("strength").addEventListener("input", () => {
    $("strength-value").textContent = Number($("strength").value).toFixed(2);
  });
  $("slider").addEventListener("input", slide);
  fetch("/api/options").then((r) => r.json()).then((o) => {
    limits = o;
    const mb = (o.max_upload_bytes / 1e6).toLocaleString("en", { maximumFractionDigits: 1 });
    const mp = (o.max_pixels / 1e6).toLocaleString("en", { maximumFractionDigits: 1 });
    $("limits").textContent = `${o.extensions.join(" ")}; at most ${mb} MB and ${mp} megapixels`;
  }).catch(() => showError("cannot reach the deblur server"));
}

init();
