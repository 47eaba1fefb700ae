import { act, renderHook } from "@testing-library/react";
import { StrictMode, type ReactNode } from "react";

import { SidecarController } from "./sidecar";
import { FakeSidecarHost } from "./testing/fakeSidecarHost";
import { fixtureLines } from "./testing/fixtures";
import { useSidecar } from "./useSidecar";

describe("useSidecar", () => {
  it("starts the sidecar once, even under StrictMode, and follows its state", async () => {
    const shell = new FakeSidecarHost().install();
    const controller = new SidecarController({ logger: { warn: () => undefined, info: () => undefined } });
    const wrapper = ({ children }: { children: ReactNode }) => <StrictMode>{children}</StrictMode>;
    const { result } = renderHook(() => useSidecar(controller), { wrapper });
    await act(async () => {
      await Promise.resolve();
    });
    expect(shell.processes).toHaveLength(1);
    act(() => {
      shell.stdoutLines(shell.last, fixtureLines("normal-start"));
    });
    expect(result.current.state.phase).toBe("ready");
    act(() => {
      result.current.markKeyStored();
    });
    expect(result.current.state.llmKey).toBe("available");
  });

  it("does not start when autoStart is off", () => {
    const shell = new FakeSidecarHost().install();
    const controller = new SidecarController();
    const { result } = renderHook(() => useSidecar(controller, { autoStart: false }));
    expect(result.current.state.phase).toBe("idle");
    expect(shell.processes).toHaveLength(0);
  });
});
