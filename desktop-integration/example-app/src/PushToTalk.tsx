/** Stands in for the desktop app's own push-to-talk path (its Rust STT/TTS). */
export function PushToTalk({ notice }: { notice: string | null }) {
  return (
    <section className="push-to-talk" data-testid="push-to-talk">
      <button type="button">Hold to talk</button>
      {notice ? <p role="status">{notice}</p> : null}
    </section>
  );
}
