import "@testing-library/jest-dom/vitest";

import { clearMocks } from "@tauri-apps/api/mocks";
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";

// jsdom lays nothing out and has no scrollIntoView
Element.prototype.scrollIntoView = function scrollIntoView() {
  /* nothing to scroll */
};

afterEach(() => {
  cleanup();
  clearMocks();
});
