// The alert sound of the console and the provider phone. Browsers play sound only after the
// person has touched the page, so the first tap or key press unlocks it; until then `hint` (a
// button asking for that tap) stays visible. Each beep counts in root.dataset.beeps (tests read it).

export function alertSound({ hint, root, notes, wave, step, peak }) {
  let audio = null;

  function update() {
    const on = audio && audio.state === "running";
    hint.hidden = Boolean(on);
    if (on) {
      document.removeEventListener("pointerdown", enable, true);
      document.removeEventListener("keydown", enable, true);
    }
  }

  function enable() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { hint.hidden = true; return; }
    if (!audio) audio = new Ctx();
    audio.resume().then(update, update);
  }

  function beep() {
    if (!audio || audio.state !== "running") return false;
    const start = audio.currentTime + 0.01;
    notes.forEach((freq, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      const t0 = start + i * step;
      osc.type = wave;
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0);
      gain.gain.exponentialRampToValueAtTime(peak, t0 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + step - 0.03);
      osc.connect(gain).connect(audio.destination);
      osc.start(t0);
      osc.stop(t0 + step - 0.02);
    });
    root.dataset.beeps = String(Number(root.dataset.beeps || 0) + 1);
    return true;
  }

  document.addEventListener("pointerdown", enable, true);
  document.addEventListener("keydown", enable, true);
  hint.addEventListener("click", enable);
  update();
  return { beep, enable };
}
