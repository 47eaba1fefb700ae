// Injected into the dev page by driver.mjs before any of the page's own scripts run.
// It changes nothing the page does: it listens in on the two audio paths of a call, the
// microphone that getUserMedia hands to livekit-client and the agent's audio that the kit
// attaches to <audio> elements, and records both on one WebAudio clock so a test can see
// when the user spoke and when the agent's voice stopped. window.__voiceTaps is its API.
// @ts-check
(() => {
  const SAMPLE_RATE = 16000;
  // runs in the AudioWorklet scope: hands over 1024-sample blocks with the time of their
  // first sample; silence while its input has no data, so the recording keeps its clock
  const WORKLET = `
    class VoiceTap extends AudioWorkletProcessor {
      constructor() { super(); this.block = new Float32Array(1024); this.filled = 0; this.time = 0; }
      process(inputs) {
        const samples = (inputs[0] && inputs[0][0]) || new Float32Array(128);
        if (this.filled === 0) this.time = currentTime;
        this.block.set(samples, this.filled);
        this.filled += samples.length;
        if (this.filled === this.block.length) {
          this.port.postMessage({ time: this.time, samples: this.block });
          this.block = new Float32Array(1024);
          this.filled = 0;
        }
        return true;
      }
    }
    registerProcessor("voice-tap", VoiceTap);
  `;
  /** @type {Promise<AudioContext> | null} */
  let context = null;
  /** @type {Map<string, { startTime: number, blocks: Float32Array[] }>} */
  const recordings = new Map();
  /** Keeps each tap's nodes reachable.
   * @type {AudioNode[]} */
  const nodes = [];

  /** @type {AudioContext | null} */
  let clock = null;

  function audioContext() {
    context ??= (async () => {
      const ctx = new AudioContext({ sampleRate: SAMPLE_RATE });
      const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
      await ctx.audioWorklet.addModule(url);
      clock = ctx;
      return ctx;
    })();
    return context;
  }

  /**
   * Records `stream` under `name` from now on (a second stream of the same name replaces it).
   * @param {string} name
   * @param {MediaStream} stream
   */
  async function tap(name, stream) {
    /** @type {{ startTime: number, blocks: Float32Array[] }} */
    const recording = { startTime: -1, blocks: [] };
    recordings.set(name, recording);
    const ctx = await audioContext();
    await ctx.resume();
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "voice-tap", { numberOfInputs: 1, numberOfOutputs: 0 });
    node.port.onmessage = (/** @type {MessageEvent<{ time: number, samples: Float32Array }>} */ event) => {
      if (recording.startTime < 0) recording.startTime = event.data.time;
      recording.blocks.push(event.data.samples);
    };
    source.connect(node);
    nodes.push(source, node);
  }

  const mediaDevices = navigator.mediaDevices;
  const getUserMedia = mediaDevices.getUserMedia.bind(mediaDevices);
  mediaDevices.getUserMedia = async (constraints) => {
    const stream = await getUserMedia(constraints);
    const audio = stream.getAudioTracks();
    // a clone: muting the call's track (livekit-client disables it) leaves this one live
    if (audio.length > 0) void tap("mic", new MediaStream(audio.map((track) => track.clone())));
    return stream;
  };

  let agentTaps = 0;
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      for (const node of mutation.addedNodes) {
        if (node instanceof HTMLAudioElement && node.srcObject instanceof MediaStream) {
          agentTaps += 1;
          void tap("agent", node.srcObject);
        }
      }
    }
  }).observe(document, { childList: true, subtree: true });

  /** @param {Float32Array[]} blocks */
  function pcm16Base64(blocks) {
    const length = blocks.reduce((sum, block) => sum + block.length, 0);
    const pcm = new Int16Array(length);
    let offset = 0;
    for (const block of blocks) {
      block.forEach((sample, i) => {
        pcm[offset + i] = Math.max(-1, Math.min(1, sample)) * 32767;
      });
      offset += block.length;
    }
    const bytes = new Uint8Array(pcm.buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  }

  /** @type {import("./voiceTaps").VoiceTaps} */
  const taps = {
    sampleRate: SAMPLE_RATE,
    /** Seconds on the taps' clock (WebAudio's currentTime), or -1 before the first tap. */
    now: () => (clock ? clock.currentTime : -1),
    /** How many agent audio elements appeared so far. */
    agentTaps: () => agentTaps,
    /** What `name` recorded so far: its start on the taps' clock and 16 kHz mono PCM. */
    take: (name) => {
      const recording = recordings.get(name);
      if (!recording) return null;
      return { startTime: recording.startTime, sampleRate: SAMPLE_RATE, pcm16: pcm16Base64(recording.blocks) };
    },
  };
  window.__voiceTaps = taps;
})();
