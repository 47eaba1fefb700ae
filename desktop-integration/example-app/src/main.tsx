import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { VoicePanel } from "./VoicePanel";

const root = document.getElementById("root");
if (!root) throw new Error("no #root element");
createRoot(root).render(
  <StrictMode>
    <main>
      <h1>Voice example app</h1>
      <VoicePanel recentHistory={[]} />
    </main>
  </StrictMode>,
);
