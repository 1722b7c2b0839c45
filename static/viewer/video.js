// The live video: WHEP playback into the page's <video id="stream-video">. Muted autoplay (what
// browsers allow without a tap) with a tap-to-unmute button; the still placeholder stays until
// frames play and comes back when the stream ends. No stream yet: ask again every few seconds.

const CHECK_EVERY_MS = 4000;
const FULL_RETRY_MS = 15000;
const GATHER_WAIT_MS = 1500;

function gathered(pc) {
  // The offer goes out with our candidates in it (WHEP servers need not support trickle ICE).
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_WAIT_MS);
  });
}

export function startVideo({ video, placeholder, unmute }) {
  const url = video.dataset.whepUrl;
  if (!url || !window.RTCPeerConnection) return null;
  let pc = null;
  let location = null;
  let timer = null;
  let watch = null;

  function later(ms) {
    clearTimeout(timer);
    timer = setTimeout(attempt, ms * (0.75 + Math.random() / 2)); // spread a crowd's checks
  }

  function showStill() {
    video.hidden = true;
    placeholder.hidden = false;
    unmute.hidden = true;
  }

  function stop() {
    clearInterval(watch);
    watch = null;
    if (pc) pc.close();
    pc = null;
    if (location) fetch(location, { method: "DELETE", keepalive: true }).catch(() => {});
    location = null;
    video.srcObject = null;
  }

  function ended() {
    stop();
    showStill();
    later(CHECK_EVERY_MS);
  }

  async function attempt() {
    if (document.hidden) return later(CHECK_EVERY_MS);
    try {
      const status = await fetch(url, { cache: "no-store" });
      if (status.status !== 200) return later(CHECK_EVERY_MS);
      const peer = (pc = new RTCPeerConnection({ iceServers: [] }));
      peer.addTransceiver("video", { direction: "recvonly" });
      peer.addTransceiver("audio", { direction: "recvonly" });
      const stream = new MediaStream();
      peer.ontrack = (event) => {
        stream.addTrack(event.track);
        video.srcObject = stream;
        video.play().catch(() => {});
      };
      peer.onconnectionstatechange = () => {
        if (peer === pc && (peer.connectionState === "failed" || peer.connectionState === "closed")) ended();
      };
      await peer.setLocalDescription(await peer.createOffer());
      await gathered(peer);
      const answer = await fetch(url, {
        method: "POST", headers: { "Content-Type": "application/sdp" }, body: peer.localDescription.sdp, cache: "no-store",
      });
      if (answer.status !== 201) {
        stop();
        return later(answer.status === 503 ? FULL_RETRY_MS : CHECK_EVERY_MS);
      }
      location = answer.headers.get("Location");
      await peer.setRemoteDescription({ type: "answer", sdp: await answer.text() });
      // The server closes our connection when the host stops; a closed tab or a lost network may
      // not say so, so the stream's existence is also checked now and then.
      watch = setInterval(async () => {
        try {
          if ((await fetch(url, { cache: "no-store" })).status === 404 && peer === pc) ended();
        } catch (err) { /* offline for a moment: the connection state decides */ }
      }, CHECK_EVERY_MS);
    } catch (err) {
      stop();
      later(CHECK_EVERY_MS);
    }
  }

  video.addEventListener("playing", () => {
    video.hidden = false;
    placeholder.hidden = true;
    unmute.hidden = !video.muted;
  });
  unmute.addEventListener("click", () => {
    video.muted = false;
    video.play().catch(() => {});
    unmute.hidden = true;
  });
  window.addEventListener("pagehide", stop);
  attempt();
  return { stop };
}
