// The polymodal page: one image, every task endpoint, errors shown as the server words them.
"use strict";

const $ = (id) => document.getElementById(id);
let image = null;            // the chosen image as a Blob

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function call(endpoint, fields) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== null && value !== undefined && value !== "") form.append(name, value);
  }
  showError("");
  let response;
  try {
    response = await fetch(`/v1/${endpoint}`, { method: "POST", body: form });
  } catch (e) {
    showError(`the server could not be reached (${e.message})`);
    throw e;
  }
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) {
    showError(`${endpoint}: ${body.error || "HTTP " + response.status}`);
    throw new Error(body.error);
  }
  return body;
}

function busy(button, work) {
  return async () => {
    button.disabled = true;
    try { await work(); } catch (e) { /* shown by call() */ } finally { button.disabled = false; refresh(); }
  };
}

function refresh() {
  for (const b of document.querySelectorAll("[data-needs-image]")) b.disabled = !image;
}

function useImage(blob, name) {
  if (!blob.type.startsWith("image/")) { showError(`${name}: not an image`); return; }
  image = blob;
  $("preview").src = URL.createObjectURL(blob);
  $("stage").hidden = false;
  $("drop-hint").hidden = true;
  $("box").hidden = true;
  $("image-name").textContent = name;
  showError("");
  refresh();
}

function drawBox(box) {
  const img = $("preview"), scale = img.clientWidth / img.naturalWidth;
  const [x0, y0, x1, y1] = box.map((v) => v * scale);
  Object.assign($("box").style, { left: `${x0}px`, top: `${y0}px`, width: `${x1 - x0}px`, height: `${y1 - y0}px` });
  $("box").hidden = false;
}

function pngFrom(base64) {
  const img = document.createElement("img");
  img.src = `data:image/png;base64,${base64}`;
  return img;
}

// A recording (any format the browser records) -> 16-bit mono WAV, which the server reads.
async function toWav(blob) {
  const context = new AudioContext();
  const audio = await context.decodeAudioData(await blob.arrayBuffer());
  const samples = audio.getChannelData(0), rate = audio.sampleRate;
  const view = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
  return new Blob([view], { type: "audio/wav" });
}

let recorder = null;
async function toggleRecording() {
  const button = $("record");
  if (recorder) { recorder.stop(); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch (e) {
    showError(`the microphone is not available (${e.message})`); return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  const type = recorder.mimeType;
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    recorder = null;
    button.classList.remove("recording");
    button.textContent = "● Record";
    if (!chunks.length) { showError("nothing was recorded: hold the recording a little longer"); return; }
    try {
      const wav = await toWav(new Blob(chunks, { type }));
      const r = await call("ask", { image, audio: wav });
      $("answer-result").textContent = `${r.answer} (${r.score.toFixed(2)})`;
    } catch (e) { if (!$("error").textContent) showError(`the recording could not be read (${e.message})`); }
  };
  recorder.start(250);     // in slices, so a short recording still holds data when stopped
  button.classList.add("recording");
  button.textContent = "■ Stop";
}

function setUp() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) useImage(file, file.name);
  });
  $("file").addEventListener("change", (e) => { const f = e.target.files[0]; if (f) useImage(f, f.name); });

  $("caption-run").onclick = busy($("caption-run"), async () => {
    const r = await call("caption", { image });
    $("caption-result").textContent = r.caption;
  });
  $("ask-run").onclick = busy($("ask-run"), async () => {
    const r = await call("ask", { image, question: $("question").value });
    $("answer-result").textContent = `${r.answer} (${r.score.toFixed(2)})`;
  });
  $("record").onclick = toggleRecording;
  $("ground-run").onclick = busy($("ground-run"), async () => {
    const r = await call("ground", { image, phrase: $("phrase").value });
    drawBox(r.box);
    $("ground-result").textContent = `[${r.box.map((v) => v.toFixed(0)).join(", ")}] (${r.score.toFixed(2)})`;
  });
  $("classify-run").onclick = busy($("classify-run"), async () => {
    const r = await call("classify", { image, labels: $("labels").value });
    $("classify-result").textContent = r.labels.map((l) => `${l.label} ${(100 * l.score).toFixed(0)}%`).join(" · ");
  });
  $("edit-run").onclick = busy($("edit-run"), async () => {
    const r = await call("edit", { image, instruction: $("instruction").value });
    $("edit-result").replaceChildren(pngFrom(r.image));
  });
  $("generate-run").onclick = busy($("generate-run"), async () => {
    const r = await call("generate", { prompt: $("prompt").value });
    $("generate-result").replaceChildren(pngFrom(r.image));
  });
  $("speak-run").onclick = busy($("speak-run"), async () => {
    const r = await call("speak", { text: $("speak-text").value });
    const player = document.createElement("audio");
    player.controls = true;
    player.id = "speak-audio";
    player.src = `data:audio/wav;base64,${r.audio}`;
    $("speak-result").replaceChildren(player);
  });
  $("audio-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      const r = await call("transcribe", { audio: file });
      $("transcribe-result").textContent = r.text || "(nothing heard)";
    } catch (err) { /* shown by call() */ }
  });
  refresh();
}

setUp();
