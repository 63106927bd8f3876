// framewire's live page: one WebSocket brings every stream's state twice a
// second and the frames of the tiles shown, each a JPEG behind a JSON
// header. A frame is drawn, then acknowledged: the receiver sends that
// stream's next frame only then, so a slow page gets fewer frames, never a
// backlog. Click or tap a tile to see it alone, again to see them all.
"use strict";

const grid = document.getElementById("grid");
const empty = document.getElementById("empty");
const tiles = new Map(); // key -> tile
let socket = null;
let alone = null; // the key shown alone, or null

function makeTile(key) {
  const element = document.createElement("div");
  element.className = "tile";
  element.dataset.key = key;
  const canvas = document.createElement("canvas");
  const overlay = document.createElement("div");
  overlay.className = "overlay";
  const marker = document.createElement("div");
  marker.className = "marker";
  const snapshot = document.createElement("a");
  snapshot.className = "snapshot";
  snapshot.textContent = "Snapshot";
  snapshot.href = "/streams/" + encodeURIComponent(key) + ".jpg";
  snapshot.addEventListener("click", (event) => {
    event.stopPropagation();
    snapshot.download = key + "-" + new Date().toISOString().replace(/[:.]/g, "-") + ".jpg";
  });
  element.append(canvas, overlay, marker, snapshot);
  element.addEventListener("click", () => showAlone(alone === key ? null : key));
  grid.append(element);
  const tile = { key, element, canvas, overlay, marker, state: null, previous: null,
    drawn: [], latencies: [] };
  tiles.set(key, tile);
  return tile;
}

function layout() {
  const count = alone ? 1 : tiles.size;
  grid.style.setProperty("--columns", String(Math.max(1, Math.ceil(Math.sqrt(count)))));
  grid.classList.toggle("alone", alone !== null);
  for (const tile of tiles.values()) {
    tile.element.classList.toggle("shown", tile.key === alone);
  }
  empty.style.display = tiles.size ? "none" : "flex";
}

function showAlone(key) {
  alone = key;
  layout();
  send({ show: key === null ? null : [key] });
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

// Draws the picture letterboxed into the tile's canvas, at the canvas's
// own size in device pixels.
function draw(tile, bitmap) {
  const canvas = tile.canvas;
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext("2d");
  const scale = Math.min(width / bitmap.width, height / bitmap.height);
  const w = bitmap.width * scale;
  const h = bitmap.height * scale;
  context.fillStyle = "#000";
  context.fillRect(0, 0, width, height);
  context.drawImage(bitmap, (width - w) / 2, (height - h) / 2, w, h);
}

function onState(state) {
  const keys = new Set(state.streams.map((s) => s.key));
  for (const [key, tile] of tiles) {
    if (!keys.has(key)) {
      tile.element.remove();
      tiles.delete(key);
      if (alone === key) alone = null;
    }
  }
  const now = performance.now();
  for (const stream of state.streams) {
    const tile = tiles.get(stream.key) || makeTile(stream.key);
    tile.previous = tile.state ? { at: tile.stateAt, state: tile.state } : null;
    tile.state = stream;
    tile.stateAt = now;
    tile.marker.textContent = stream.marker || "";
    tile.element.dataset.status = stream.status;
    if (stream.width && stream.height) {
      tile.element.style.setProperty("--aspect", `${stream.width} / ${stream.height}`);
    }
    tile.overlay.textContent = overlayText(tile, now);
  }
  layout();
}

// The overlay's figures: the window's (name, size, fps, latency, bit rate,
// drops), the rates over the last second on this page.
function overlayText(tile, now) {
  const s = tile.state;
  tile.drawn = tile.drawn.filter((t) => now - t < 1000);
  tile.latencies = tile.latencies.filter((l) => now - l.at < 1000);
  const fps = tile.drawn.length;
  let kbps = 0;
  if (tile.previous && now > tile.previous.at) {
    kbps = ((s.bytes - tile.previous.state.bytes) * 8) / (now - tile.previous.at);
  }
  const latency = tile.latencies.length
    ? (tile.latencies.reduce((a, l) => a + l.ms, 0) / tile.latencies.length).toFixed(0) + " ms"
    : "-";
  return `${s.name}\n${s.width}x${s.height}  ${fps} fps  latency ${latency}\n` +
    `${Math.max(0, kbps).toFixed(0)} kbit/s  ${s.frames_dropped} dropped`;
}

async function onFrame(data) {
  const view = new DataView(data);
  const headerLength = view.getUint32(0);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(data, 4, headerLength)));
  const jpeg = new Blob([new Uint8Array(data, 4 + headerLength)], { type: "image/jpeg" });
  const tile = tiles.get(header.key) || makeTile(header.key);
  try {
    const bitmap = await createImageBitmap(jpeg);
    draw(tile, bitmap);
    bitmap.close();
    const now = performance.now();
    tile.drawn.push(now);
    tile.element.dataset.frames = String(Number(tile.element.dataset.frames || 0) + 1);
    if (header.latency_ms !== null) tile.latencies.push({ at: now, ms: header.latency_ms });
  } catch (error) {
    console.warn("frame of", header.key, "did not decode", error);
  }
  send({ ack: header.key });
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/ws");
  socket.binaryType = "arraybuffer";
  socket.onopen = () => send({ show: alone === null ? null : [alone] });
  socket.onmessage = (event) => {
    if (typeof event.data === "string") onState(JSON.parse(event.data));
    else onFrame(event.data);
  };
  socket.onclose = () => setTimeout(connect, 1000);
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") showAlone(null);
});
layout();
connect();
