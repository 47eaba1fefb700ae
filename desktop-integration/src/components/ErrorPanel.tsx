import { useEffect, useId, useRef, type ReactNode } from "react";

export interface ErrorPanelProps {
  title: string;
  children?: ReactNode;
  actions?: ReactNode;
  /** Move keyboard focus to the panel when it appears (for errors that block the call). */
  takeFocus?: boolean;
  testId?: string;
}

/** An actionable error: what happened, what to do, and the buttons to do it. */
export function ErrorPanel({ title, children, actions, takeFocus = false, testId }: ErrorPanelProps) {
  const id = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (takeFocus) heading.current?.focus();
  }, [takeFocus]);
  return (
    <section className="vr-error" role="alert" aria-labelledby={id} data-testid={testId}>
      <h3 id={id} ref={heading} tabIndex={-1}>
        {title}
      </h3>
      {children}
      {actions ? <div className="vr-actions">{actions}</div> : null}
    </section>
  );
}
