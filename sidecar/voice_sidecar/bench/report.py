"""The benchmark's figures for people (a table), machines (JSON) and eyes (a PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STAGES = (
    ("end_of_turn_wait_s", "VAD end of turn"),
    ("stt_inference_s", "Whisper"),
    ("llm_ttft_s", "LLM first token"),
    ("llm_first_sentence_s", "first sentence ready"),
    ("tts_ttfb_s", "Piper first audio"),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def table(figures: dict[str, Any]) -> str:
    lines = [
        "| scenario | first audio median | p90 | VAD wait | Whisper | LLM TTFT "
        "| 1st sentence | Piper TTFB | other |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in figures["scenarios"].items():
        latency = entry["first_audio_latency_s"]
        cells = [_fmt(entry[key]["median"]) for key, _ in STAGES]
        extra = []
        if "barge_in_reaction_s" in entry:
            b = entry["barge_in_reaction_s"]
            extra.append(f"barge-in {_fmt(b['median'])} (p90 {_fmt(b['p90'])})")
        if "premature_end_of_turn_rate" in entry:
            extra.append(f"cut-offs {_fmt(entry['premature_end_of_turn_rate'])}")
        if entry.get("false_interruptions"):
            extra.append(f"false interruptions {entry['false_interruptions']}")
        lines.append(
            f"| {name} | {_fmt(latency['median'])} | {_fmt(latency['p90'])} | "
            + " | ".join(cells)
            + f" | {'; '.join(extra) or '-'} |"
        )
    overall = figures["overall"]
    latency = overall["first_audio_latency_s"]
    barge = overall["barge_in_reaction_s"]
    lines += [
        "",
        "Overall end of speech to first agent audio: "
        f"median {_fmt(latency['median'])} s, p90 {_fmt(latency['p90'])} s (n={latency['n']}).",
        f"Barge-in: agent silenced after median {_fmt(barge['median'])} s, "
        f"p90 {_fmt(barge['p90'])} s.",
        "Premature end of turn during mid-sentence pauses (all lengths): "
        f"{_fmt(overall['premature_end_of_turn_rate'])}.",
        "False interruptions (a reply stopped while the user was silent): "
        f"{_fmt(overall.get('false_interruptions'))}.",
        f"STT real-time factor: {overall['stt_rtf']}; TTS real-time factor: {overall['tts_rtf']}.",
        f"Start-up to first turn ready: {overall['startup_s']} s; "
        f"peak RSS {overall['peak_rss_mb']} MB; wall time {overall['wall_s']} s.",
    ]
    lines += by_speech_lines(figures.get("by_speech", {}))
    lines += over_reply_lines(figures["scenarios"])
    return "\n".join(lines) + "\n"


def over_reply_lines(scenarios: dict[str, Any]) -> list[str]:
    """One row per sound played over a reply: did the reply pause, resume, end; was the sound
    answered as a turn; how long after the sound the reply resumed; what the history heard."""
    rows = [(name, e["over_reply"]) for name, e in scenarios.items() if "over_reply" in e]
    if not rows:
        return []
    lines = [
        "",
        "Sounds over a reply (1 s in; the reply should pause at most and resume):",
        "",
        "| sound | paused | resumed | ended for good | answered as a turn "
        "| resumed after (median) | user message in the history |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, o in rows:
        heard = "; ".join(sorted({repr(r["heard"]) for r in o["runs"]})) or "-"
        lines.append(
            f"| {name.split(': ', 1)[-1]} | {o['paused']}/{o['n']} | {o['resumed']}/{o['n']} "
            f"| {o['ended']}/{o['n']} | {o['answered']}/{o['n']} "
            f"| {_fmt(o['resumed_after_s']['median'])} | {heard} |"
        )
    return lines


ROOM_PATH = """\
Through the room, the user's speech and the agent's voice each cross WebRTC: the microphone
is sent in 10 ms frames, Opus-encoded in 20 ms packets, and reaches the agent through its
jitter buffer before its VAD hears the end of speech; the agent's voice goes through its
audio queue (LiveKit's AudioSource), Opus again and the participant's jitter buffer. The
room-less run hands 10 ms frames to the session directly and times the reply where it is
handed to the speaker. Both sides of the room run on this machine: one monotonic clock, no
offset between them. The agent's own e2e figure starts at its VAD's end of speech, so heard
minus e2e is what the room adds after and before the agent's pipeline."""


def _pair(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("median") is None:
        return "-"
    return f"{entry['median']:.3f} / {_fmt(entry.get('p90'))}"


def _delta(room: dict[str, Any], bare: dict[str, Any]) -> str:
    if room.get("median") is None or bare.get("median") is None:
        return "-"
    return f"{room['median'] - bare['median']:+.3f}"


def room_table(room: dict[str, Any], bare: dict[str, Any] | None) -> str:
    """The room's figures beside the room-less ones (medians / p90, seconds)."""
    lines = [
        "| scenario | first audio, room | first audio, room-less | difference "
        "| agent e2e, room | barge-in, room | barge-in, room-less |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    bare_scenarios = (bare or {}).get("scenarios", {})
    for name, entry in room["scenarios"].items():
        other = bare_scenarios.get(name, {})
        e2e = summary_of(room, name)
        lines.append(
            f"| {name} | {_pair(entry['first_audio_latency_s'])} "
            f"| {_pair(other.get('first_audio_latency_s'))} "
            f"| {_delta(entry['first_audio_latency_s'], other.get('first_audio_latency_s', {}))} "
            f"| {_pair(e2e)} | {_pair(entry.get('barge_in_reaction_s'))} "
            f"| {_pair(other.get('barge_in_reaction_s'))} |"
        )
    overall = room["overall"]
    other_overall = (bare or {}).get("overall", {})
    latency, barge = overall["first_audio_latency_s"], overall["barge_in_reaction_s"]
    lines += [
        "",
        "Through the room, end of speech to first agent audio heard: "
        f"median {_fmt(latency['median'])} s, p90 {_fmt(latency['p90'])} s (n={latency['n']})"
        + (
            f"; room-less {_pair(other_overall.get('first_audio_latency_s'))} s"
            if other_overall
            else ""
        )
        + ".",
        f"Agent's own e2e figure in the room: {_pair(overall.get('agent_e2e_s'))} s.",
        f"Barge-in through the room: agent audio silent after {_pair(barge)} s"
        + (
            f"; room-less {_pair(other_overall.get('barge_in_reaction_s'))} s"
            if other_overall
            else ""
        )
        + " (the agent took it, state 'listening', after "
        f"{_pair(overall.get('barge_in_decided_s'))} s: the rest is audio already on its way).",
        "False interruptions through the room: "
        f"{_fmt(overall.get('false_interruptions'))}; premature end of turn: "
        f"{_fmt(overall.get('premature_end_of_turn_rate'))}.",
        f"up start to ready: {overall['startup_s']} s; wall time {overall['wall_s']} s.",
    ]
    memory = overall.get("tree_memory") or {}
    if memory:
        parts = ", ".join(
            f"{p['name']} {p['pss_mb'] if p['pss_mb'] is not None else p['rss_mb']:.0f}"
            for p in memory["processes"]
        )
        lines.append(
            f"Memory of up's whole tree in a conversation (peak of {memory['samples']}): "
            f"PSS {memory['pss_mb'] if memory['pss_mb'] is not None else '-'} MB, "
            f"RSS summed {memory['rss_mb']:.0f} MB "
            f"({parts})."
        )
        agent = memory.get("agent") or {}
        if agent:
            lines.append(_agent_memory_line(agent))
    lines += ["", ROOM_PATH]
    return "\n".join(lines) + "\n"


def _agent_memory_line(agent: dict[str, Any]) -> str:
    def reading(r: dict[str, Any]) -> str:
        pss = "" if r["pss_mb"] is None else f", PSS {r['pss_mb']:.0f}"
        return f"RSS {r['rss_mb']:.0f} MB{pss}"

    return (
        f"The agent worker (the conversation process) in session 1: {reading(agent['first'])}; "
        f"in session {agent['sessions']}: {reading(agent['last'])} "
        f"({agent['growth_rss_mb']:+.0f} MB RSS); largest {reading(agent['peak'])}."
    )


def summary_of(figures: dict[str, Any], scenario: str) -> dict[str, Any] | None:
    entry = figures["scenarios"].get(scenario, {})
    value = entry.get("agent_e2e_s")
    return value if isinstance(value, dict) else None


def by_speech_lines(kinds: dict[str, Any]) -> list[str]:
    """Finished turns' first audio and the cut-off curve, real and synthetic speech apart."""
    if not kinds:
        return []
    lines = [
        "",
        "| speech | finished turns: first audio median | p90 | n |",
        "| --- | --- | --- | --- |",
    ]
    for kind, entry in kinds.items():
        f = entry["finished_first_audio_s"]
        lines.append(f"| {kind} | {_fmt(f['median'])} | {_fmt(f['p90'])} | {f['n']} |")
    pauses = sorted({p["pause_s"] for e in kinds.values() for p in e["cut_off_curve"]})
    if not pauses:
        return lines
    names = [k for k in kinds if kinds[k]["cut_off_curve"]]
    lines += [
        "",
        "Cut-off curve (halting turns answered before their end, by the pause's dead air):",
        "",
        "| pause | " + " | ".join(f"{k} speech" for k in names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    for pause in pauses:
        cells = []
        for kind in names:
            point = next((p for p in kinds[kind]["cut_off_curve"] if p["pause_s"] == pause), None)
            cells.append(
                "-"
                if point is None
                else f"{point['rate']:.2f} ({point['cut_offs']}/{point['turns']})"
            )
        lines.append(f"| {pause:.2f} s | " + " | ".join(cells) + " |")
    return lines


def plot(figures: dict[str, Any], path: Path) -> None:
    """Stacked bars of the median latency breakdown per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, e in figures["scenarios"].items() if e["first_audio_latency_s"]["median"]]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(names) + 2.6))
    left = [0.0] * len(names)
    for key, label in STAGES:
        widths = [figures["scenarios"][n][key]["median"] or 0.0 for n in names]
        ax.barh(names, widths, left=left, label=label)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    totals = [figures["scenarios"][n]["first_audio_latency_s"]["median"] for n in names]
    ax.scatter(
        totals, names, color="black", marker="|", s=300, label="measured first audio", zorder=3
    )
    ax.axvline(0.6, color="grey", linestyle="--", linewidth=1, label="target 0.6 s")
    ax.set_xlabel("seconds from end of user speech (medians)")
    ax.invert_yaxis()
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=4, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
