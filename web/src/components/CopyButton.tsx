import { useEffect, useState } from "react";
import { Button, type ButtonSize } from "./Button.js";

async function writeClipboard(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

/** Copies text to the clipboard and says so. */
export function CopyButton({
  text,
  label = "Copy",
  size = "md",
}: {
  text: string;
  label?: string;
  size?: ButtonSize;
}) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  useEffect(() => {
    if (state === "idle") return;
    const timer = window.setTimeout(() => setState("idle"), 2500);
    return () => window.clearTimeout(timer);
  }, [state]);
  return (
    <>
      <Button size={size} onClick={async () => setState((await writeClipboard(text)) ? "copied" : "failed")}>
        {label}
      </Button>
      <span className="copy-status" role="status">
        {state === "copied" ? "Copied" : state === "failed" ? "Copy failed — select the text instead" : ""}
      </span>
    </>
  );
}
