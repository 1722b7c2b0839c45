// The live video in the page's <video id="stream-video">, from one of three sources:
//   - livedrop's own WHEP (/whep/{slug}): the default, when the show names no stream_url;
//   - an external WHEP endpoint (MediaMTX's /<path>/whep, another SFU): the show's stream_url;
//   - an external HLS playlist (.m3u8: a CDN, MediaMTX's HLS server): played through hls.js
//     (static/vendor/hls, loaded only when needed), or natively where the browser has HLS and no
//     MediaSource (iOS Safari).
// Muted autoplay (what browsers allow without a tap) with a tap-to-unmute button; the still stays
// until frames play and comes back when the stream ends. Whether livedrop's own stream is on comes
// from the show's state (the snapshot's `video` and `video` events): no stream, no request (a GET
// /whep/{slug} every few seconds logged a 404 each time). Only an older server that does not say
// is asked every few seconds.
// A WHEP connection that ends while the stream goes on (the server closes a viewer whose part of
// the stream failed on its side, or packets stop coming) is replaced by a new one within a second or
// two: the picture never stays frozen.
//
// `position()` says which moment (server-clock ms) the viewer is watching, or null when the video
// is as good as live (WebRTC) or unknown: the page holds pins and offers back until the video gets
// there (see sync.js).

const CHECK_EVERY_MS = 4000;
const FULL_RETRY_MS = 15000;
const GATHER_WAIT_MS = 1500;
const RECONNECT_MS = 1000; // after a connection ended: the stream may well still be on
// No RTP packet for this long on a connection that should carry some: it is dead even if no state
// says so. Video comes 15-30 times a second and audio 50; 8 s of silence is no hiccup.
const STALL_MS = 8000;
const HLS_JS = "/static/vendor/hls/hls.min.js"; // hls.js 1.7.4 (Apache-2.0), vendored from npm

function gathered(pc) {
  // The offer goes out with our candidates in it (WHEP servers need not support trickle ICE).
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_WAIT_MS);
  });
}

let hlsJsLoading = null;

/** hls.js's UMD build, added as a classic script the first time a page needs it (window.Hls). */
function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsJsLoading) {
    hlsJsLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = HLS_JS;
      script.async = true;
      script.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error("hls.js did not load")));
      script.onerror = () => {
        hlsJsLoading = null;
        reject(new Error("hls.js did not load"));
      };
      document.head.append(script);
    });
  }
  return hlsJsLoading;
}

/** `stream_kind` as the server says it, else guessed the same way (a .m3u8 path is HLS). */
export function streamKind(url, kind) {
  if (kind === "hls" || kind === "whep") return kind;
  try {
    return new URL(url, location.href).pathname.toLowerCase().endsWith(".m3u8") ? "hls" : "whep";
  } catch {
    return "whep";
  }
}

/**
 * @param {{video: HTMLVideoElement, placeholder: HTMLElement, unmute: HTMLElement, clock: {now(): number},
 *          streamUrl?: string|null, streamKind?: string|null}} options
 */
export function startVideo({ video, placeholder, unmute, clock, streamUrl = null, streamKind: kind = null, onAir = null }) {
  const ownWhep = video.dataset.whepUrl;
  let player = null;
  let current = "";
  let airing = onAir; // livedrop's own stream: true, false, or null (unknown: ask the server)

  function showStill() {
    video.hidden = true;
    placeholder.hidden = false;
    unmute.hidden = true;
  }

  function later(fn, ms) {
    return setTimeout(fn, ms * (0.75 + Math.random() / 2)); // spread a crowd's retries
  }

  // -- WHEP (livedrop's own, or external) ------------------------------------------------------

  function whepPlayer(url, { own }) {
    let pc = null;
    let location = null;
    let timer = null;
    let watch = null;
    let stopped = false;

    function close() {
      clearInterval(watch);
      watch = null;
      if (pc) pc.close();
      pc = null;
      if (location) fetch(location, { method: "DELETE", keepalive: true }).catch(() => {});
      location = null;
      video.srcObject = null;
    }

    function retry(ms) {
      clearTimeout(timer);
      if (!stopped) timer = later(attempt, ms);
    }

    function ended() {
      close();
      showStill();
      retry(RECONNECT_MS); // asks whether the stream is still on first: a stream that ended costs a GET
    }

    function packetsReceived(stats) {
      let packets = 0;
      stats.forEach((s) => {
        if (s.type === "inbound-rtp") packets += s.packetsReceived || 0;
      });
      return packets;
    }

    async function attempt() {
      if (stopped) return;
      if (own && airing === false) return undefined; // off: the `video` event starts us again
      if (document.hidden) return retry(CHECK_EVERY_MS);
      try {
        // livedrop answers GET /whep/{slug} with whether a stream exists (cheap, cached), asked
        // only when the show's state does not say; an external WHEP server need not answer it,
        // so there the offer itself is the question.
        if (own && airing === null && (await fetch(url, { cache: "no-store" })).status !== 200) return retry(CHECK_EVERY_MS);
        if (stopped) return;
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
        if (peer !== pc) return;
        if (answer.status !== 201) {
          close();
          return retry(answer.status === 503 ? FULL_RETRY_MS : CHECK_EVERY_MS);
        }
        const where = answer.headers.get("Location");
        location = where ? new URL(where, new URL(url, window.location.href)).href : null;
        await peer.setRemoteDescription({ type: "answer", sdp: await answer.text() });
        // The server closes our connection when the host stops, or when our part of the stream
        // failed on its side. Chromium reports the DTLS close at once, but its connectionState
        // stays "connected" until ICE consent runs out (about 20 s here): listen to the transport.
        const transport = peer.getReceivers().map((r) => r.transport).find(Boolean);
        if (transport) {
          transport.addEventListener("statechange", () => {
            if (peer === pc && (transport.state === "closed" || transport.state === "failed")) ended();
          });
        }
        // A closed tab or a lost network may not say so at all: the stream's existence (own WHEP)
        // and the packets coming in are checked now and then.
        let packets = -1;
        let since = Date.now();
        watch = setInterval(async () => {
          try {
            if (own && airing === null && (await fetch(url, { cache: "no-store" })).status === 404 && peer === pc) return ended();
          } catch { /* offline for a moment: the connection state decides */ }
          try {
            const now = packetsReceived(await peer.getStats());
            if (now !== packets) {
              packets = now;
              since = Date.now();
            } else if (Date.now() - since > STALL_MS && peer === pc) {
              ended();
            }
          } catch { /* closed meanwhile */ }
        }, CHECK_EVERY_MS);
      } catch {
        close();
        retry(CHECK_EVERY_MS);
      }
    }

    attempt();
    return {
      name: own ? "livedrop-whep" : "whep",
      /** The show's state says the stream is on (connect now) or off (close, show the still). */
      airChanged() {
        if (!own) return; // an external stream is not livedrop's to know about
        if (airing === false) {
          clearTimeout(timer);
          close();
          showStill();
        } else if (!pc) {
          clearTimeout(timer);
          attempt();
        }
      },
      position: () => null, // WebRTC plays a fraction of a second behind: as good as live
      stop() {
        stopped = true;
        clearTimeout(timer);
        close();
      },
    };
  }

  // -- HLS -------------------------------------------------------------------------------------

  function hlsPlayer(url) {
    let hls = null;
    let native = false;
    let timer = null;
    let stopped = false;
    let lastBehind = null; // ms behind the server's now, when last known
    const self = { name: "hls", position, stop };

    function retry() {
      clearTimeout(timer);
      if (!stopped) timer = later(start, CHECK_EVERY_MS);
    }

    function teardown() {
      lastBehind = null; // no picture: nothing to wait for
      if (hls) hls.destroy();
      hls = null;
      if (native) {
        video.removeAttribute("src");
        video.load();
      }
      native = false;
    }

    async function start() {
      teardown();
      let Hls = null;
      try {
        Hls = await loadHlsJs();
      } catch { /* no hls.js: native HLS below, if the browser has it */ }
      if (stopped) return;
      if (Hls && Hls.isSupported()) {
        // hls.js wherever MediaSource exists, even where the browser also claims HLS ("maybe"):
        // it gives playingDate, which keeps pins in step with the picture.
        self.name = video.dataset.player = "hls.js";
        hls = new Hls({ lowLatencyMode: true, backBufferLength: 30 });
        hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
        hls.on(Hls.Events.ERROR, (_event, data) => {
          if (!data.fatal || stopped) return;
          if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
            hls.recoverMediaError();
          } else {
            // The playlist is not there (yet, or any more): the still, and ask again later.
            teardown();
            showStill();
            retry();
          }
        });
        hls.loadSource(url);
        hls.attachMedia(video);
      } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
        self.name = video.dataset.player = "native-hls";
        native = true;
        video.src = url;
        video.play().catch(() => {});
      } else {
        self.name = video.dataset.player = "none"; // nothing here plays HLS: the still stays
      }
    }

    function onError() {
      if (native && !stopped) {
        teardown();
        showStill();
        retry();
      }
    }

    function position() {
      const at = playingAt();
      if (at !== null) {
        lastBehind = clock.now() - at;
        return at;
      }
      // Buffering for a moment: still as far behind as it was (held pins must not all jump out).
      return lastBehind === null ? null : clock.now() - lastBehind;
    }

    function playingAt() {
      if (video.readyState < 2 || video.paused) return null; // not showing frames: nothing to wait for
      if (hls) {
        // EXT-X-PROGRAM-DATE-TIME of what plays now: the packager's wall clock (MediaMTX's, the
        // CDN origin's), which is NTP time like the server's, so it compares with a frame's ts.
        const date = hls.playingDate;
        if (date && Number.isFinite(date.getTime())) return date.getTime();
        // No program date time in the playlist: how far behind the live edge the player is.
        if (Number.isFinite(hls.latency) && hls.latency > 0) return clock.now() - hls.latency * 1000;
        return null;
      }
      if (native && typeof video.getStartDate === "function") {
        const startDate = video.getStartDate().getTime(); // Safari: the playlist's program date time
        if (Number.isFinite(startDate)) return startDate + video.currentTime * 1000;
      }
      return null;
    }

    function stop() {
      stopped = true;
      clearTimeout(timer);
      video.removeEventListener("error", onError);
      teardown();
    }

    video.addEventListener("error", onError);
    start();
    return self;
  }

  // -- switching ---------------------------------------------------------------------------------

  /** Plays the show's stream_url (null: livedrop's own WHEP). A change switches at once. */
  function setStream(url, streamKindHint = null) {
    const key = url ? `${streamKind(url, streamKindHint)} ${url}` : "own";
    if (key === current && player) return;
    current = key;
    if (player) player.stop();
    player = null;
    showStill();
    delete video.dataset.player;
    if (url) {
      if (streamKind(url, streamKindHint) === "hls") {
        player = hlsPlayer(url);
      } else if (window.RTCPeerConnection) {
        player = whepPlayer(url, { own: false });
        video.dataset.player = "whep";
      }
    } else if (ownWhep && window.RTCPeerConnection) {
      player = whepPlayer(ownWhep, { own: true });
      video.dataset.player = "livedrop-whep";
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
  window.addEventListener("pagehide", () => player && player.stop());
  setStream(streamUrl, kind);

  /** livedrop's own stream went on or off (the show's `video` state). */
  function setOnAir(on) {
    const next = typeof on === "boolean" ? on : null;
    if (next === airing) return;
    airing = next;
    if (player && player.airChanged) player.airChanged();
  }

  return {
    setStream,
    setOnAir,
    position: () => (player ? player.position() : null),
    stop() {
      if (player) player.stop();
      player = null;
    },
  };
}
