import "../styles/voice-room.css";
import "./dev.css";

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { DevApp } from "./DevApp";

const root = document.getElementById("root");
if (!root) throw new Error("no #root element");
createRoot(root).render(
  <StrictMode>
    <DevApp />
  </StrictMode>,
);
