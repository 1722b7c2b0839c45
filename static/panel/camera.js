// Video from the control panel: a camera preview first, then "Go live on camera" publishes it over
// WHIP (POST /whip/{slug} with the session cookie and the CSRF header); "Stop video" DELETEs the
// session's Location, which ends the stream for every viewer. WHIP speaks SDP, not JSON, so these
// calls use fetch() itself rather than common/api.js; only the CSRF token is shared.

import { csrfToken } from "../common/api.js";
import { t } from "../common/i18n.js";

const GATHER_WAIT_MS = 2000;

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") resolve(); });
    setTimeout(resolve, GATHER_WAIT_MS);
  });
}

/** Wires the camera box (#camera-panel) of the show screen. */
export function startCamera(box) {
  if (!box) return;
  const csrf = csrfToken();
  const slug = box.dataset.slug;
  const preview = box.querySelector("#camera-preview");
  const startButton = box.querySelector("#camera-start");
  const publishButton = box.querySelector("#video-publish");
  const stopButton = box.querySelector("#video-stop");
  const stateText = box.querySelector("#video-state");
  let stream = null;
  let pc = null;
  let location = null;

  const say = (text, state) => {
    stateText.textContent = text;
    box.dataset.state = state;
  };

  function buttons(live) {
    startButton.hidden = Boolean(stream);
    publishButton.hidden = !stream || live;
    stopButton.hidden = !live;
  }

  startButton.addEventListener("click", async () => {
    startButton.disabled = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15, max: 30 } },
        audio: true,
      });
      preview.srcObject = stream;
      preview.hidden = false;
      await preview.play().catch(() => {});
      say(t("panel.camera.preview"), "preview");
    } catch (err) {
      say(t("panel.camera.none", { reason: err.message || err.name }), "error");
    } finally {
      startButton.disabled = false;
      buttons(false);
    }
  });

  async function stopPublishing(keepalive = false) {
    const where = location;
    location = null;
    if (pc) pc.close();
    pc = null;
    if (where) {
      await fetch(where, { method: "DELETE", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin", keepalive })
        .catch(() => {});
    }
  }

  publishButton.addEventListener("click", async () => {
    publishButton.disabled = true;
    say(t("panel.camera.connecting"), "connecting");
    try {
      const peer = (pc = new RTCPeerConnection({ iceServers: [] }));
      for (const track of stream.getTracks()) peer.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      peer.onconnectionstatechange = () => {
        if (peer !== pc) return;
        if (peer.connectionState === "connected") say(t("panel.camera.live"), "live");
        if (peer.connectionState === "failed") {
          stopPublishing();
          buttons(false);
          say(t("panel.camera.lost"), "error");
        }
      };
      await peer.setLocalDescription(await peer.createOffer());
      await gathered(peer);
      const response = await fetch(`/whip/${encodeURIComponent(slug)}`, {
        method: "POST",
        headers: { "Content-Type": "application/sdp", "X-CSRF-Token": csrf },
        body: peer.localDescription.sdp,
        credentials: "same-origin",
        cache: "no-store",
      });
      if (response.status !== 201) {
        let text = t("panel.camera.server_answered", { status: response.status });
        try { text = (await response.json()).error.message; } catch (err) { /* not JSON */ }
        throw new Error(text);
      }
      location = response.headers.get("Location");
      await peer.setRemoteDescription({ type: "answer", sdp: await response.text() });
      buttons(true);
    } catch (err) {
      await stopPublishing();
      buttons(false);
      say(t("panel.camera.failed", { reason: err.message || err }), "error");
    } finally {
      publishButton.disabled = false;
    }
  });

  stopButton.addEventListener("click", async () => {
    stopButton.disabled = true;
    await stopPublishing();
    stopButton.disabled = false;
    buttons(false);
    say(t("panel.camera.stopped"), "preview");
  });

  window.addEventListener("pagehide", () => { if (location) stopPublishing(true); });
  buttons(false);
}
