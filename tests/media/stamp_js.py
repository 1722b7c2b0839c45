"""The browser side of tests.media.peers' frame stamp: a script for a viewer page that reads the
number and painted clock of every frame the page presents (requestVideoFrameCallback, a canvas)
into ``window.__frames`` ([arrival ms, frame number, painted ms]), counts frames without a readable
stamp in ``window.__unreadable`` and notes the first frame's time after navigation in
``window.__firstFrameAt``. Used by the browser video test and bench/media.py --soak."""

# Layout: tests.media.peers, STAMP_*.
WATCH_FRAMES = """
(() => {
  const BLOCK = 16, PER_ROW = 20, BITS = 80;
  window.__frames = [];          // [arrival ms (Date.now), frame number, painted ms]
  window.__unreadable = 0;
  window.__firstFrameAt = null;  // ms after navigation started
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  function stamp(video) {
    const w = video.videoWidth, h = video.videoHeight;
    if (w < PER_ROW * BLOCK || h < 4 * BLOCK) return null;
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    ctx.drawImage(video, 0, 0, w, h);
    const px = ctx.getImageData(0, 0, PER_ROW * BLOCK, 4 * BLOCK).data;
    const bytes = [];
    for (let b = 0; b < BITS / 8; b++) {
      let byte = 0;
      for (let i = 0; i < 8; i++) {
        const bit = b * 8 + i, x = (bit % PER_ROW) * BLOCK + BLOCK / 2, y = Math.floor(bit / PER_ROW) * BLOCK + BLOCK / 2;
        byte = (byte << 1) | (px[(y * PER_ROW * BLOCK + x) * 4] > 128 ? 1 : 0);
      }
      bytes.push(byte);
    }
    const sum = (bytes.slice(0, 9).reduce((a, b) => a + b, 0) + 0x5a) % 256;  // + STAMP_SALT
    if (sum !== bytes[9]) return null;
    const seq = (bytes[0] << 16) | (bytes[1] << 8) | bytes[2];
    let ms = 0;
    for (let i = 3; i < 9; i++) ms = ms * 256 + bytes[i];
    return [seq, ms];
  }
  function watch() {
    const video = document.getElementById("stream-video");
    if (!video) return setTimeout(watch, 10);
    const onFrame = () => {
      const arrived = Date.now();
      if (window.__firstFrameAt === null) window.__firstFrameAt = performance.now();
      const got = stamp(video);
      if (got) window.__frames.push([arrived, got[0], got[1]]); else window.__unreadable++;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  watch();
})();
"""
