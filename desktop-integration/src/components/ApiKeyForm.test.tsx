import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { ControlApiError } from "../controlApi";
import { ApiKeyForm } from "./ApiKeyForm";

describe("ApiKeyForm", () => {
  it("asks for a key before calling the backend", async () => {
    const putKey = vi.fn(() => Promise.resolve());
    render(<ApiKeyForm putKey={putKey} onStored={vi.fn()} />);
    await userEvent.click(screen.getByRole("button", { name: "Save key" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Paste your API key first.");
    expect(putKey).not.toHaveBeenCalled();
  });

  it("trims the key, clears it after saving, and tells the backend being unreachable", async () => {
    const putKey = vi
      .fn<(key: string) => Promise<void>>()
      .mockRejectedValueOnce(new ControlApiError(0, "unreachable", "down"))
      .mockResolvedValueOnce(undefined);
    const onStored = vi.fn();
    render(<ApiKeyForm putKey={putKey} onStored={onStored} />);
    const input = screen.getByLabelText("API key");
    await userEvent.type(input, "  nb-key  {Enter}");
    expect(screen.getByRole("alert")).toHaveTextContent("The voice backend did not answer.");
    expect(input).toHaveValue("  nb-key  ");
    await userEvent.click(screen.getByRole("button", { name: "Save key" }));
    expect(putKey).toHaveBeenLastCalledWith("nb-key");
    expect(onStored).toHaveBeenCalledOnce();
    expect(input).toHaveValue("");
  });
});
