// The polymodal page: one image (and one clip), every task endpoint, errors shown as the server words them.
"use strict";

const $ = (id) => document.getElementById(id);
let image = null;            // the chosen image as a Blob
let clip = null;             // the chosen video clip as a Blob

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
  for (const b of document.querySelectorAll("[data-needs-clip]")) b.disabled = !clip;
}

function useClip(blob, name) {
  if (blob.type && !blob.type.startsWith("video/")) { showError(`${name}: not a video clip`); return; }
  clip = blob;
  $("clip-preview").src = URL.createObjectURL(blob);     // shown where the browser plays its codec
  $("clip-preview").hidden = false;
  $("clip-name").textContent = name;
  $("clip-result").textContent = "";
  showError("");
  refresh();
}

function useImage(blob, name) {
  if (!blob.type.startsWith("image/")) { showError(`${name}: not an image`); return; }
  image = blob;
  $("preview").src = URL.createObjectURL(blob);
  $("stage").hidden = false;
  $("drop-hint").hidden = true;
  $("box").hidden = true;
  $("image-name").textContent = name;
  resetChat();                 // a new image starts a new conversation
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
// Start recording with the microphone, or stop and hand the recording, as WAV, to `use`.
async function toggleRecording(button, use) {
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
      await use(await toWav(new Blob(chunks, { type })));
    } catch (e) { if (!$("error").textContent) showError(`the recording could not be read (${e.message})`); }
  };
  recorder.start(250);     // in slices, so a short recording still holds data when stopped
  button.classList.add("recording");
  button.textContent = "■ Stop";
}

// Chat: a conversation with the server's vision-language model through its OpenAI-compatible
// route, the reply streamed in as server-sent events. The image goes with the first message.
let conversation = [];       // the OpenAI messages so far
let chatModel = null;

async function chatModelId() {
  if (!chatModel) {
    const body = await (await fetch("/v1/models")).json();
    const found = body.data.find((m) => m.tasks.includes("vlm"));
    if (!found) throw new Error("this server has no chat model (start it with --model vlm=NAME)");
    chatModel = found.id;
  }
  return chatModel;
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function addTurn(role, text) {
  const turn = document.createElement("p");
  turn.className = `turn ${role}`;
  turn.textContent = text;
  $("chat-log").append(turn);
  return turn;
}

// The text of a streamed reply, shown in `turn` piece by piece.
async function readStream(response, turn) {
  const reader = response.body.getReader(), decoder = new TextDecoder();
  let buffer = "", text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const chunk = JSON.parse(event.slice(6));
      if (chunk.error) { showError(`chat: ${chunk.error.message}`); continue; }
      const piece = chunk.choices.length ? chunk.choices[0].delta.content : "";
      if (piece) { text += piece; turn.textContent = text; }
    }
  }
}

async function sendChat(parts, shown) {
  const content = [];
  if (!conversation.length && image) content.push({ type: "image_url", image_url: { url: await dataUrl(image) } });
  const messages = conversation.concat([{ role: "user", content: content.concat(parts) }]);
  const asked = addTurn("user", shown), turn = addTurn("assistant", "…");
  showError("");
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: await chatModelId(), messages, stream: true, max_tokens: 64 }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
    }
    const text = await readStream(response, turn);
    conversation = messages.concat([{ role: "assistant", content: text }]);
    if ($("chat-speak").checked && text) {
      const r = await call("speak", { text });
      const player = document.createElement("audio");
      player.controls = true;
      player.className = "chat-audio";
      player.src = `data:audio/wav;base64,${r.audio}`;
      turn.append(player);
    }
  } catch (e) {
    if (!$("error").textContent) showError(`chat: ${e.message}`);
    asked.remove();
    turn.remove();
  }
}

function resetChat() {
  conversation = [];
  $("chat-log").replaceChildren();
}

async function sendRecording(wav) {
  const data = (await dataUrl(wav)).split(",")[1];
  await sendChat([{ type: "input_audio", input_audio: { data, format: "wav" } }], "🎤 (spoken)");
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
  $("chat-send").onclick = busy($("chat-send"), async () => {
    const text = $("chat-input").value.trim();
    if (!text) return;
    $("chat-input").value = "";
    await sendChat([{ type: "text", text }], text);
  });
  $("chat-input").addEventListener("keydown", (e) => { if (e.key === "Enter") $("chat-send").click(); });
  $("chat-reset").onclick = resetChat;
  $("chat-record").onclick = () => toggleRecording($("chat-record"), sendRecording);

  $("caption-run").onclick = busy($("caption-run"), async () => {
    const r = await call("caption", { image });
    $("caption-result").textContent = r.caption;
  });
  $("ask-run").onclick = busy($("ask-run"), async () => {
    const r = await call("ask", { image, question: $("question").value });
    $("answer-result").textContent = `${r.answer} (${r.score.toFixed(2)})`;
  });
  $("record").onclick = () => toggleRecording($("record"), async (wav) => {
    const r = await call("ask", { image, audio: wav });
    $("answer-result").textContent = `${r.answer} (${r.score.toFixed(2)})`;
  });
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
  $("clip-file").addEventListener("change", (e) => { const f = e.target.files[0]; if (f) useClip(f, f.name); });
  $("clip-ask").onclick = busy($("clip-ask"), async () => {
    const r = await call("ask-video", { video: clip, question: $("clip-question").value });
    $("clip-result").textContent = `${r.answer} (${r.score.toFixed(2)})`;
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
